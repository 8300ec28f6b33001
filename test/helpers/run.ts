// Running an external program from a test (the official Python client,
// htools, Ganeti's oracle): output collected, a hard timeout, and its PID
// recorded so an interrupted run leaves nothing behind.
import { spawn } from 'node:child_process';
import { recordPid, unrecordPid } from './pids.ts';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  out: string;
}

export function runProgram(command: string, args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    if (proc.pid !== undefined) recordPid(proc.pid, command.split('/').pop()!);
    const r: Run = { code: null, signal: null, stdout: '', stderr: '', out: '' };
    proc.stdout.on('data', (b: Buffer) => { r.stdout += b; r.out += b; });
    proc.stderr.on('data', (b: Buffer) => { r.stderr += b; r.out += b; });
    const timer = setTimeout(() => {
      r.stderr += `\n[killed after ${timeoutMs} ms]`;
      r.out += `\n[killed after ${timeoutMs} ms]`;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('error', (e) => { clearTimeout(timer); reject(e); });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (proc.pid !== undefined) unrecordPid(proc.pid);
      Object.assign(r, { code, signal });
      resolve(r);
    });
  });
}
