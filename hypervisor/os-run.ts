// Running a node's OS scripts as backend.py does (InstanceOsAdd,
// RunRenameInstance, ValidateOS, and the import/export script streams):
// the OS found along the search path, Ganeti's environment and nothing
// else, the OS directory as working directory, output kept in a log file per
// run, and Ganeti's failure texts.
import { spawn } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pyRepr } from '../jobs/py.ts';
import {
  OS_API_V20, OS_VALIDATE_CALLS, OS_VALIDATE_PARAMETERS, OsError, checkOsParameterNames, checkOsVariant, diagnoseOs,
  osBaseName, osFromDisk, splitLines, tryOsFromDisk, type OsDefinition, type OsDiagnosis, type OsScript,
} from './os.ts';
import { osCoreEnv, osEnvironment, type OsEnv, type OsInstance } from './os-env.ts';

/**
 * How long each kind of script may run: the RPC timeouts Ganeti gives these
 * calls (rpc_defs: instance_os_add 1 day, instance_run_rename slow,
 * os_validate fast; a disk transfer as long as an install). Ganeti's master
 * stops waiting then; rapid's node also stops the script, so none lingers.
 */
export type OsScriptKind = 'create' | 'rename' | 'verify' | 'transfer';
export const OS_SCRIPT_TIMEOUT_S: Readonly<Record<OsScriptKind, number>> = { create: 86_400, rename: 3_600, verify: 300, transfer: 86_400 };

/** constants.CHILD_LINGER_TIMEOUT: SIGTERM, then this long before SIGKILL. */
const LINGER_S = 5;

interface ScriptResult {
  failed: boolean;
  /** utils.RunResult.fail_reason. */
  failReason: string;
  /** Captured when no log file takes it (verify). */
  output: string;
}

interface ScriptRun {
  /** Resolves when the script and its output streams are done. */
  done: Promise<ScriptResult>;
  /** The stream the script writes when its stdout is piped (export). */
  stdout: Readable | null;
  stdin: Writable | null;
  /** Stops the script's whole process group (its children included). */
  kill(signal: NodeJS.Signals): void;
}

/**
 * utils.RunCmd with reset_env: `env` is all the script sees. Output goes to
 * `logFile` (appended) unless captured; stdout may instead be piped, and
 * stdin fed, for the export and import streams.
 */
async function runScript(o: {
  argv: string[]; env: OsEnv; cwd: string; timeoutMs: number; logFile?: string; pipeStdout?: boolean; pipeStdin?: boolean;
}): Promise<ScriptRun> {
  const log = o.logFile ? await open(o.logFile, 'a') : null;
  const out = log ? log.fd : 'pipe';
  const child = spawn(o.argv[0]!, o.argv.slice(1), {
    env: o.env, cwd: o.cwd, detached: true,
    stdio: [o.pipeStdin ? 'pipe' : 'ignore', o.pipeStdout ? 'pipe' : out, out],
  });
  const kill = (signal: NodeJS.Signals) => {
    try { process.kill(-child.pid!, signal); } catch { /* already gone */ }
  };
  let stdout = '';
  let stderr = '';
  if (!log && !o.pipeStdout) child.stdout?.on('data', (b) => { stdout += b; });
  if (!log) child.stderr?.on('data', (b) => { stderr += b; });
  // A consumer that goes away must not crash the worker; the script then fails on its own.
  child.stdin?.on('error', () => undefined);
  child.stdout?.on('error', () => undefined);

  let timeoutAction: 'term' | 'kill' | null = null;
  let lingerTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timeoutAction = 'term';
    kill('SIGTERM');
    lingerTimer = setTimeout(() => { timeoutAction = 'kill'; kill('SIGKILL'); }, LINGER_S * 1000);
  }, o.timeoutMs);

  const done = new Promise<ScriptResult>((resolve) => {
    let finished = false;
    // A script that cannot start reports 'error' and may still report 'close'.
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(lingerTimer);
      void log?.close();
      if (spawnError) {
        resolve({ failed: true, failReason: spawnError.message, output: '' });
        return;
      }
      const reasons: string[] = [];
      if (signal) reasons.push(`terminated by signal ${signalNumber(signal) ?? signal}`);
      else if (code !== null) reasons.push(`exited with exit code ${code}`);
      else reasons.push('unable to determine termination reason');
      const t = o.timeoutMs / 1000;
      if (timeoutAction === 'term') reasons.push(`terminated after timeout of ${t.toFixed(2)} seconds`);
      if (timeoutAction === 'kill') reasons.push(`force termination after timeout of ${t.toFixed(2)} seconds and linger for another ${LINGER_S.toFixed(2)} seconds`);
      resolve({ failed: signal !== null || code !== 0, failReason: reasons.join(', '), output: stdout + stderr });
    };
    child.once('error', (err) => finish(null, null, err));
    child.once('close', (code, signal) => finish(code, signal));
  });
  return { done, stdout: o.pipeStdout ? child.stdout : null, stdin: o.pipeStdin ? child.stdin : null, kill };
}

const signalNumber = (signal: NodeJS.Signals): number | null => osConstants.signals[signal] ?? null;

/** utils.TimestampForFilename: local time, no colons. */
function timestampForFilename(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}_${p(d.getMinutes())}_${p(d.getSeconds())}`;
}

/** utils.SafeEncode. */
function safeEncode(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c > 0xffff) out += `\\U${c.toString(16).padStart(8, '0')}`;
    else if (c > 0xff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0x80) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += "\\'r";
    else if (c < 32 || c === 127) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** utils.TailFile: the last lines of the file's last 4 KiB. */
async function tailFile(file: string, lines = 20): Promise<string[]> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, 4096);
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(length), 0, length, size - length);
    return splitLines(buffer.subarray(0, bytesRead).toString('utf8')).slice(-lines);
  } finally {
    await fh.close();
  }
}

/**
 * A logged script's end: a failure in backend.InstanceOsAdd's and
 * RunRenameInstance's words, with the log's last lines. Export and import,
 * which Ganeti runs inside its import/export daemon, say it the same way.
 */
async function settled(what: string, run: ScriptRun, logFile: string): Promise<void> {
  const r = await run.done;
  if (!r.failed) return;
  const lines = (await tailFile(logFile)).map(safeEncode);
  throw new OsError(`OS ${what} script failed (${r.failReason}), last lines in the log file:\n${lines.join('\n')}`);
}

/** Runs the OS definitions found along a node's search path, logging into `logDir` (Ganeti's /var/log/ganeti/os). */
export class OsScripts {
  /** `timeoutsS` replaces OS_SCRIPT_TIMEOUT_S (tests do not wait a day). */
  constructor(private o: { searchPath: string[]; logDir: string; timeoutsS?: Partial<Record<OsScriptKind, number>> }) {}

  private timeoutMs(kind: OsScriptKind): number {
    return (this.o.timeoutsS?.[kind] ?? OS_SCRIPT_TIMEOUT_S[kind]) * 1000;
  }

  /** backend.DiagnoseOS. */
  diagnose(): Promise<OsDiagnosis[]> {
    return diagnoseOs(this.o.searchPath);
  }

  /** backend._InstanceLogName. */
  private async logName(kind: string, os: string, instance: string, component?: string): Promise<string> {
    await mkdir(this.o.logDir, { recursive: true });
    return path.join(this.o.logDir, `${kind}-${os}-${instance}${component ? `-${component}` : ''}-${timestampForFilename()}.log`);
  }

  private script(os: OsDefinition, which: OsScript): string {
    const s = os.scripts[which];
    // Ganeti runs create_untrusted only inside a helper VM, which rapid has not.
    if (!s) throw new OsError(`OS '${os.name}' has no ${which} script`);
    return s;
  }

  /** Runs a create or rename script into its log file; answers the log file. */
  private async runLogged(what: 'create' | 'rename', argv: string[], env: OsEnv, os: OsDefinition, logFile: string): Promise<string> {
    await settled(what, await runScript({ argv, env, cwd: os.path, timeoutMs: this.timeoutMs(what), logFile }), logFile);
    return logFile;
  }

  /** backend.InstanceOsAdd; answers the log file. */
  async add(inst: OsInstance, diskPaths: (string | null)[], reinstall: boolean, debug = 0): Promise<string> {
    const os = await osFromDisk(inst.os, this.o.searchPath);
    const env = osEnvironment(inst, diskPaths, os, debug);
    if (reinstall) env.INSTANCE_REINSTALL = '1';
    const log = await this.logName('add', inst.os, inst.name);
    return this.runLogged('create', [this.script(os, 'create')], env, os, log);
  }

  /** backend.RunRenameInstance: `inst` already has its new name. */
  async rename(inst: OsInstance, diskPaths: (string | null)[], oldName: string, debug = 0): Promise<string> {
    const os = await osFromDisk(inst.os, this.o.searchPath);
    const env = osEnvironment(inst, diskPaths, os, debug);
    env.OLD_INSTANCE_NAME = oldName;
    const log = await this.logName('rename', inst.os, `${oldName}-${inst.name}`);
    return this.runLogged('rename', [this.script(os, 'rename')], env, os, log);
  }

  /**
   * backend.ValidateOS: false when the OS is missing and not `required`.
   * Only API 20 definitions have parameters and a verify script.
   */
  async validate(required: boolean, osName: string, checks: string[], osparams: Record<string, unknown>, forceVariant: boolean): Promise<boolean> {
    const unknown = checks.filter((c) => !OS_VALIDATE_CALLS.includes(c));
    if (unknown.length) throw new OsError(`Unknown checks required for OS ${osName}: {${[...new Set(unknown)].map((c) => pyRepr(c)).join(', ')}}`);
    const found = await tryOsFromDisk(osBaseName(osName), this.o.searchPath);
    if (!found.ok) {
      if (required) throw new OsError(found.error);
      return false;
    }
    const os = found.os;
    if (!forceVariant) checkOsVariant(os, osName);
    if (Math.max(...os.api_versions) < OS_API_V20) return true;
    if (checks.includes(OS_VALIDATE_PARAMETERS)) checkOsParameterNames(os, Object.keys(osparams));
    const env = osCoreEnv(osName, os, osparams);
    const run = await runScript({ argv: [this.script(os, 'verify'), ...checks], env, cwd: os.path, timeoutMs: this.timeoutMs('verify') });
    const r = await run.done;
    if (r.failed) throw new OsError(`OS validation script failed (${r.failReason}), output: ${r.output}`);
    return true;
  }

  /** The export/import script's environment (backend._GetImportExportIoCommand, IEIO_SCRIPT). */
  private async transferEnv(mode: 'export' | 'import', inst: OsInstance, diskPaths: (string | null)[], index: number) {
    const os = await osFromDisk(inst.os, this.o.searchPath);
    const env = osEnvironment(inst, diskPaths, os);
    const upper = mode.toUpperCase();
    const diskPath = env[`DISK_${index}_PATH`];
    if (diskPath !== undefined) {
      env[`${upper}_DEVICE`] = diskPath;
      env[`${upper}_DISK_PATH`] = diskPath;
    }
    env[`${upper}_INDEX`] = String(index);
    const log = await this.logName(mode, inst.os, inst.name, `disk${index}`);
    return { os, env, log };
  }

  /**
   * Disk `index` as the OS export script writes it to stdout. `done`
   * rejects with the log's last lines if the script fails; `abort` stops it
   * when the receiving side gives up.
   */
  async exportDisk(inst: OsInstance, diskPaths: (string | null)[], index: number): Promise<{ stream: Readable; done: Promise<void>; abort(): void }> {
    const { os, env, log } = await this.transferEnv('export', inst, diskPaths, index);
    const run = await runScript({ argv: [this.script(os, 'export')], env, cwd: os.path, timeoutMs: this.timeoutMs('transfer'), logFile: log, pipeStdout: true });
    return { stream: run.stdout!, done: settled('export', run, log), abort: () => run.kill('SIGKILL') };
  }

  /** Writes disk `index` from `input` through the OS import script. */
  async importDisk(inst: OsInstance, diskPaths: (string | null)[], index: number, input: Readable): Promise<void> {
    const { os, env, log } = await this.transferEnv('import', inst, diskPaths, index);
    const run = await runScript({ argv: [this.script(os, 'import')], env, cwd: os.path, timeoutMs: this.timeoutMs('transfer'), logFile: log, pipeStdin: true });
    input.once('error', () => run.kill('SIGKILL'));
    input.pipe(run.stdin!);
    return settled('import', run, log);
  }
}
