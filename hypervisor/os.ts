// Ganeti OS definitions (OS API 20): directories in a search path holding
// `create` and friends. rapid ships `noop`, which installs nothing.
import { access, chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';

export const DEFAULT_OS_SEARCH_PATH = ['/srv/ganeti/os', '/usr/local/lib/ganeti/os', '/usr/lib/ganeti/os', '/usr/share/ganeti/os'];
const OS_API_VERSION = 20;
const REQUIRED_SCRIPTS = ['create', 'export', 'import', 'rename'];

export interface OsDefinition {
  name: string;
  path: string;
  api_versions: number[];
  variants: string[];
}

/** Write rapid's built-in `noop` OS into `dir` (idempotent). */
export async function installNoopOs(dir: string): Promise<void> {
  const d = path.join(dir, 'noop');
  await mkdir(d, { recursive: true });
  await writeFile(path.join(d, 'ganeti_api_version'), `${OS_API_VERSION}\n`);
  for (const s of [...REQUIRED_SCRIPTS, 'verify']) {
    await writeFile(path.join(d, s), '#!/bin/sh\n# rapid noop OS: nothing to install\nexit 0\n');
    await chmod(path.join(d, s), 0o755);
  }
}

async function readOs(dir: string, name: string): Promise<OsDefinition | null> {
  const p = path.join(dir, name);
  try {
    const versions = (await readFile(path.join(p, 'ganeti_api_version'), 'utf8')).split(/\s+/).filter(Boolean).map(Number);
    for (const s of REQUIRED_SCRIPTS) await access(path.join(p, s), constants.X_OK);
    const variants = await readFile(path.join(p, 'variants.list'), 'utf8')
      .then((t) => t.split('\n').map((l) => l.trim()).filter(Boolean)).catch(() => []);
    return { name, path: p, api_versions: versions, variants };
  } catch {
    return null;
  }
}

/** The first definition of each OS name along the search path wins, as in Ganeti. */
export async function listOs(searchPath: string[]): Promise<OsDefinition[]> {
  const found = new Map<string, OsDefinition>();
  for (const dir of searchPath) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.sort()) {
      if (found.has(name)) continue;
      const os = await readOs(dir, name);
      if (os && os.api_versions.includes(OS_API_VERSION)) found.set(name, os);
    }
  }
  return [...found.values()];
}

export interface OsRunInput {
  instanceName: string;
  hypervisor: string;
  os: string;
  osparams: Record<string, unknown>;
  disks: { path: string; mode: string }[];
  nics: { mac: string; ip: string | null; mode: unknown; link: unknown }[];
  reinstall: boolean;
}

/** Run the OS `create` script with Ganeti's environment; returns its output. */
export async function runCreate(def: OsDefinition, input: OsRunInput, timeoutMs = 600_000): Promise<string> {
  const [, variant] = input.os.split('+');
  const env: Record<string, string> = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    OS_API_VERSION: String(OS_API_VERSION),
    OS_NAME: def.name,
    INSTANCE_NAME: input.instanceName,
    INSTANCE_OS: input.os,
    HYPERVISOR: input.hypervisor,
    DISK_COUNT: String(input.disks.length),
    NIC_COUNT: String(input.nics.length),
    DEBUG_LEVEL: '0',
    INSTANCE_REINSTALL: input.reinstall ? '1' : '0',
  };
  if (variant) env.OS_VARIANT = variant;
  input.disks.forEach((d, i) => { env[`DISK_${i}_PATH`] = d.path; env[`DISK_${i}_ACCESS`] = d.mode; });
  input.nics.forEach((n, i) => {
    env[`NIC_${i}_MAC`] = n.mac;
    if (n.ip) env[`NIC_${i}_IP`] = n.ip;
    env[`NIC_${i}_MODE`] = String(n.mode ?? '');
    if (n.link) env[`NIC_${i}_LINK`] = String(n.link);
  });
  for (const [k, v] of Object.entries(input.osparams)) env[`OSP_${k.toUpperCase().replace(/-/g, '_')}`] = String(v);
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(def.path, 'create'), [], { env, cwd: def.path, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`OS create script failed (${signal ?? `exit code ${code}`}), last lines of output: ${out.split('\n').slice(-20).join('\n')}`));
    });
  });
}
