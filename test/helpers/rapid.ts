// Starts the real daemon (dist/src/main.js) as a child process, the way an
// operator would, and waits for its "rapid: ready <url>" line.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { recordPid, unrecordPid, repoRoot, terminate, waitExit, tempDir, pidDir } from './pids.ts';
import { freePort } from './redis.ts';

export interface RapidOptions {
  /** Use this redis; without it the daemon starts its own. */
  redisUrl?: string;
  /** Reuse a data directory (e.g. to restart over the same state); a temp dir otherwise. */
  dataDir?: string;
  env?: Record<string, string>;
  /** Content of $dataDir/users, written before start. */
  users?: string;
}

export interface RapidProc {
  baseUrl: string;
  port: number;
  dataDir: string;
  /** Contents of $dataDir/rapi.pem when serving https, '' otherwise. */
  ca: string;
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, wait for exit; the exit code (null if it had to be SIGKILLed). */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

const READY = /^rapid: ready (https?):\/\/(\S+)/m;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 20_000;
const MAIN = path.join(repoRoot, 'dist', 'src', 'main.js');

export async function startRapid(opts: RapidOptions = {}): Promise<RapidProc> {
  const dataDir = opts.dataDir ?? tempDir('rapid-data-');
  fs.mkdirSync(dataDir, { recursive: true });
  if (opts.users !== undefined) fs.writeFileSync(path.join(dataDir, 'users'), opts.users);
  // The daemon may lose the race for the free port; try again with another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(dataDir, await freePort(), opts);
    } catch (err) {
      if (!(err instanceof Error && /EADDRINUSE/.test(err.message)) || attempt >= 3) throw err;
    }
  }
}

function launch(dataDir: string, port: number, opts: RapidOptions): Promise<RapidProc> {
  // Nothing inherited from the caller's shell may point the daemon elsewhere.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RAPID_') && k !== 'REDIS_URL') env[k] = v;
  }
  Object.assign(env, {
    RAPID_DATA_DIR: dataDir,
    RAPID_PORT: String(port),
    RAPID_BIND: '127.0.0.1',
    RAPID_WAIT_TIMEOUT: '2', // short /wait long-polls keep tests fast
    RAPID_PID_DIR: pidDir, // the daemon records its children where the reaper looks
    RAPID_HYPERVISORS: 'fake', // API and queue tests run on the fake hypervisor; kvm tests ask for it
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...opts.env,
  });
  const proc = spawn(process.execPath, [MAIN], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid !== undefined) recordPid(proc.pid, 'dist/src/main.js');
  let out = '';
  let err = '';
  // Always drain both pipes: a full pipe would stall the daemon.
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const collected = () => `--- stdout ---\n${out}\n--- stderr ---\n${err}`;

  const handle = (scheme: string, hostPort: string): RapidProc => ({
    baseUrl: `${scheme}://${hostPort}`,
    port,
    dataDir,
    ca: scheme === 'https' ? fs.readFileSync(path.join(dataDir, 'rapi.pem'), 'utf8') : '',
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      const code = await terminate(proc, STOP_GRACE_MS);
      unrecordPid(proc.pid!);
      return code;
    },
    async kill9() {
      proc.kill('SIGKILL');
      await waitExit(proc);
      unrecordPid(proc.pid!);
    },
  });

  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      clearTimeout(timer);
      proc.stdout!.off('data', check);
      if (e) {
        proc.kill('SIGKILL');
        if (proc.pid !== undefined) unrecordPid(proc.pid);
        reject(e);
      }
    };
    const timer = setTimeout(
      () => done(new Error(`rapid not ready after ${READY_TIMEOUT_MS / 1000} s\n${collected()}`)),
      READY_TIMEOUT_MS,
    );
    const check = () => {
      const m = READY.exec(out);
      if (!m) return;
      done();
      try {
        resolve(handle(m[1], m[2]));
      } catch (e) {
        done(e as Error); // e.g. https without a readable rapi.pem
      }
    };
    proc.stdout!.on('data', check);
    proc.once('error', (e) => done(new Error(`cannot run ${MAIN}: ${e.message}`)));
    proc.once('exit', (code, signal) =>
      done(new Error(`rapid exited (${code ?? signal}) before it was ready\n${collected()}`)),
    );
  });
}
