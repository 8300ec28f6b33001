// PID files for the processes that tests start, so that a test run that is
// killed half-way leaves nothing behind: scripts/test.sh reaps whatever is
// still recorded in <repo>/.run/pids/ before and after the suite.
//
// File format, one line: "<pid> <cmd-fragment> owner=<pid>".
//  - cmd-fragment (no spaces) must occur in /proc/<pid>/cmdline, so that a
//    recycled PID never gets a stray signal;
//  - owner is the process that started it (here the ava worker). While the
//    owner lives, the entry belongs to a run in progress (maybe another
//    developer's concurrent run) and is left alone. The daemon may write
//    files in the same format for its own children; owner is optional.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';

/** Repo root: this file runs as <repo>/dist/test/helpers/pids.js. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const pidDir = path.join(repoRoot, '.run', 'pids');

const recorded = new Map<number, string>(); // pid -> cmd-fragment
const tempDirs = new Set<string>();

function pidFile(pid: number): string {
  return path.join(pidDir, `test-${pid}.pid`);
}

export function recordPid(pid: number, cmdFragment: string): void {
  if (/\s/.test(cmdFragment)) throw new Error(`cmd fragment must not contain spaces: ${cmdFragment}`);
  fs.mkdirSync(pidDir, { recursive: true });
  fs.writeFileSync(pidFile(pid), `${pid} ${cmdFragment} owner=${process.pid}\n`);
  recorded.set(pid, cmdFragment);
}

export function unrecordPid(pid: number): void {
  recorded.delete(pid);
  fs.rmSync(pidFile(pid), { force: true });
}

/** True while /proc/<pid> exists (a zombie counts: it is not reaped yet). */
export function pidAlive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

/** Resolves with the exit code (null when killed by a signal). */
export function waitExit(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

/** SIGTERM, then SIGKILL after graceMs; resolves with the exit code. */
export async function terminate(proc: ChildProcess, graceMs = 5000): Promise<number | null> {
  const exited = waitExit(proc);
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh temp directory, removed when this test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

// A test that fails before its stop() call must not leak processes: when the
// worker exits normally, SIGTERM what is still recorded. The PID files stay,
// so scripts/test.sh can finish the job if SIGTERM is not enough. (A SIGKILLed
// worker runs no handler at all; then test.sh does all of it.)
process.once('exit', () => {
  for (const pid of recorded.keys()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a process we just signalled may still be writing there; /tmp copes
    }
  }
});
