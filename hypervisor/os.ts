// Ganeti OS definitions (ganeti-os-interface(7)) as backend.py reads them: a
// directory per OS in a search path, holding `ganeti_api_version` and the
// scripts, plus variants.list (API 15+) and parameters.list (API 20). An OS
// found first along the path is the one used, valid or not.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pyRepr } from '../jobs/py.ts';

export const OS_API_V10 = 10;
export const OS_API_V15 = 15;
export const OS_API_V20 = 20;
/** constants.OS_API_VERSIONS. */
export const OS_API_VERSIONS = [OS_API_V10, OS_API_V15, OS_API_V20];

export const OS_SCRIPTS = ['create', 'create_untrusted', 'export', 'import', 'rename', 'verify'] as const;
export type OsScript = (typeof OS_SCRIPTS)[number];
const OS_API_FILE = 'ganeti_api_version';
const OS_VARIANTS_FILE = 'variants.list';
const OS_PARAMETERS_FILE = 'parameters.list';
/** constants.OS_VALIDATE_CALLS: what a verify script may be asked to check. */
export const OS_VALIDATE_PARAMETERS = 'parameters';
export const OS_VALIDATE_CALLS = [OS_VALIDATE_PARAMETERS];

/** pathutils.OS_SEARCH_PATH. */
export const DEFAULT_OS_SEARCH_PATH = ['/srv/ganeti/os', '/usr/local/lib/ganeti/os', '/usr/lib/ganeti/os', '/usr/share/ganeti/os'];

/**
 * The OS definitions rapid ships (hypervisor/os-definitions). They are plain
 * files in the repository, next to this module's source; compiled, this
 * module runs from dist/hypervisor/.
 */
export const BUILTIN_OS_DIR = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
  return path.join(root, 'hypervisor', 'os-definitions');
})();

/**
 * Earlier rapid versions wrote a `noop` into each node's own OS directory,
 * which Ganeti's rules find invalid (API 20 without parameters.list) and
 * which, first in the path, would hide the built-in one. Removes it if it
 * is exactly what they wrote; an operator's own noop stays.
 */
export async function retireWrittenNoopOs(dir: string): Promise<void> {
  const d = path.join(dir, 'noop');
  const script = '#!/bin/sh\n# rapid noop OS: nothing to install\nexit 0\n';
  const names = await readdir(d).catch(() => null);
  if (!names || names.sort().join(' ') !== 'create export ganeti_api_version import rename verify') return;
  const texts = await Promise.all(names.map((n) => readFile(path.join(d, n), 'utf8')));
  if (texts.every((t, i) => t === (names[i] === OS_API_FILE ? '20\n' : script))) await rm(d, { recursive: true });
}

/** objects.OS: a valid definition. */
export interface OsDefinition {
  name: string;
  path: string;
  /** Absolute paths of the scripts present (create or create_untrusted may be missing, verify below API 20). */
  scripts: Partial<Record<OsScript, string>>;
  variants: string[];
  /** [name, description] per line of parameters.list. */
  parameters: string[][];
  api_versions: number[];
}

/** One entry of backend.DiagnoseOS. */
export interface OsDiagnosis {
  name: string;
  path: string;
  status: boolean;
  diagnose: string;
  variants: string[];
  parameters: string[][];
  api_versions: number[];
  trusted: boolean;
}

/** An invalid or missing OS, with backend.py's text. */
export class OsError extends Error {}

/** objects.OS.GetName / GetVariant: "name+variant". */
export const osBaseName = (os: string): string => os.split('+')[0]!;
export function osVariant(os: string): string {
  const i = os.indexOf('+');
  return i < 0 ? '' : os.slice(i + 1);
}

/** Python's str.splitlines(). */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** utils.FilterEmptyLinesAndComments. */
const meaningfulLines = (text: string): string[] => splitLines(text).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

/** constants.EXT_PLUGIN_MASK: utils.FindFile refuses any other name. */
const EXT_PLUGIN_MASK = /^[a-zA-Z0-9_-]+$/;

const errnoName = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** utils.FindFile(name, dirs, os.path.isdir). */
async function findOsDir(name: string, dirs: string[]): Promise<string | null> {
  if (!EXT_PLUGIN_MASK.test(name)) return null;
  for (const dir of dirs) {
    const p = `${dir}/${name}`;
    if ((await stat(p).catch(() => null))?.isDirectory()) return p;
  }
  return null;
}

/** backend._OSOndiskAPIVersion. */
async function readApiVersions(osDir: string): Promise<{ ok: true; versions: number[] } | { ok: false; error: string }> {
  const file = path.join(osDir, OS_API_FILE);
  let st: Stats;
  try {
    st = await stat(file);
  } catch (err) {
    return { ok: false, error: `Required file '${OS_API_FILE}' not found under path ${osDir}: ${errnoName(err)}` };
  }
  if (!st.isFile()) return { ok: false, error: `File '${OS_API_FILE}' in ${osDir} is not a regular file` };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, error: `Error while reading the API version file at ${file}: ${errnoName(err)}` };
  }
  const versions: number[] = [];
  for (const line of splitLines(text)) {
    const v = line.trim();
    if (!/^[+-]?\d+$/.test(v)) {
      return { ok: false, error: `API version(s) can't be converted to integer: invalid literal for int() with base 10: ${pyRepr(v)}` };
    }
    versions.push(parseInt(v, 10));
  }
  return { ok: true, versions };
}

/** backend._TryOSFromDisk: the OS `name` (no variant) along `dirs`, or why it is not valid. */
export async function tryOsFromDisk(name: string, dirs: string[]): Promise<{ ok: true; os: OsDefinition } | { ok: false; error: string }> {
  const osDir = await findOsDir(name, dirs);
  if (osDir === null) return { ok: false, error: `Directory for OS ${name} not found in search path` };
  const api = await readApiVersions(osDir);
  if (!api.ok) return api;
  const versions = api.versions;
  if (!versions.some((v) => OS_API_VERSIONS.includes(v))) {
    return { ok: false, error: `API version mismatch for path '${osDir}': found ${pyRepr(versions)}, want frozenset({${OS_API_VERSIONS.join(', ')}}).` };
  }
  // Required or optional, in the order Ganeti checks them.
  const max = Math.max(...versions);
  const files = new Map<string, boolean>(OS_SCRIPTS.map((s) => [s, !['create', 'create_untrusted'].includes(s)]));
  if (max >= OS_API_V15) files.set(OS_VARIANTS_FILE, false);
  if (max >= OS_API_V20) files.set(OS_PARAMETERS_FILE, true);
  else files.delete('verify');

  const present = new Map<string, string>();
  for (const [file, required] of files) {
    const p = path.join(osDir, file);
    let st: Stats;
    try {
      st = await stat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) continue;
      return { ok: false, error: `File '${file}' under path '${osDir}' is missing (${errnoName(err)})` };
    }
    if (!st.isFile()) return { ok: false, error: `File '${file}' under path '${osDir}' is not a regular file` };
    if ((OS_SCRIPTS as readonly string[]).includes(file) && !(st.mode & 0o100)) {
      return { ok: false, error: `File '${file}' under path '${osDir}' is not executable` };
    }
    present.set(file, p);
  }
  if (!present.has('create') && !present.has('create_untrusted')) {
    return { ok: false, error: `A create script (trusted or untrusted) under path '${osDir}' must exist` };
  }

  let variants: string[] = [];
  const variantsFile = present.get(OS_VARIANTS_FILE);
  if (variantsFile) {
    try {
      variants = meaningfulLines(await readFile(variantsFile, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        return { ok: false, error: `Error while reading the OS variants file at ${variantsFile}: ${errnoName(err)}` };
      }
    }
  }
  let parameters: string[][] = [];
  const parametersFile = present.get(OS_PARAMETERS_FILE);
  if (parametersFile) {
    try {
      // Blank lines are skipped: Ganeti keeps them as empty entries and then trips over them.
      parameters = splitLines(await readFile(parametersFile, 'utf8')).map(splitOnce).filter((p) => p.length);
    } catch (err) {
      return { ok: false, error: `Error while reading the OS parameters file at ${parametersFile}: ${errnoName(err)}` };
    }
  }
  const scripts: Partial<Record<OsScript, string>> = {};
  for (const s of OS_SCRIPTS) if (present.has(s)) scripts[s] = present.get(s)!;
  return { ok: true, os: { name, path: osDir, scripts, variants, parameters, api_versions: versions } };
}

/** Python's str.split(None, 1): the rest keeps its trailing blanks. */
function splitOnce(line: string): string[] {
  const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(line);
  if (!m) return [];
  return m[2] ? [m[1]!, m[2]] : [m[1]!];
}

/** backend.OSFromDisk: the valid OS named `os` (variant allowed), or OsError. */
export async function osFromDisk(os: string, dirs: string[]): Promise<OsDefinition> {
  const r = await tryOsFromDisk(osBaseName(os), dirs);
  if (!r.ok) throw new OsError(r.error);
  return r.os;
}

/** backend.DiagnoseOS: every entry of every directory of the path, valid or not. */
export async function diagnoseOs(dirs: string[]): Promise<OsDiagnosis[]> {
  const result: OsDiagnosis[] = [];
  for (const dir of dirs) {
    if (!(await stat(dir).catch(() => null))?.isDirectory()) continue;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
    } catch (err) {
      // Ganeti stops at a directory it cannot list.
      console.error(`rapid-node: can't list the OS directory ${dir}: ${(err as Error).message}`);
      break;
    }
    for (const name of names) {
      const r = await tryOsFromDisk(name, [dir]);
      result.push(r.ok
        ? { name, path: path.join(dir, name), status: true, diagnose: '', variants: r.os.variants, parameters: r.os.parameters, api_versions: r.os.api_versions, trusted: !r.os.scripts.create_untrusted }
        : { name, path: path.join(dir, name), status: false, diagnose: r.error, variants: [], parameters: [], api_versions: [], trusted: true });
    }
  }
  return result;
}

/** The API version the scripts are run with: the highest both sides know. */
export const effectiveApiVersion = (os: OsDefinition): number => Math.max(...os.api_versions.filter((v) => OS_API_VERSIONS.includes(v)));

/** backend._CheckOSVariant. */
export function checkOsVariant(os: OsDefinition, name: string): void {
  const variant = osVariant(name);
  if (!os.variants.length) {
    if (variant) throw new OsError(`OS '${os.name}' does not support variants ('${variant}' passed)`);
    return;
  }
  if (!variant) throw new OsError(`OS name '${name}' must include a variant`);
  if (!os.variants.includes(variant)) throw new OsError(`OS '${os.name}' does not support variant '${variant}'`);
}

/** backend._CheckOSPList. */
export function checkOsParameterNames(os: OsDefinition, names: string[]): void {
  const supported = new Set(os.parameters.map((p) => p[0]));
  const delta = [...new Set(names)].filter((n) => !supported.has(n));
  if (delta.length) throw new OsError(`The following parameters are not supported by the OS ${os.name}: ${delta.join(', ')}`);
}
