// PID files for the processes rapid forks, so nothing it started can outlive
// it unnoticed: a later start (or a test run's reaper) finds and stops them.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export class PidFiles {
  constructor(private dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Format shared with scripts/test.sh: "<pid> <cmdline fragment> owner=<pid>". */
  record(name: string, pid: number, fragment: string): void {
    writeFileSync(path.join(this.dir, `${name}.${pid}.pid`), `${pid} ${fragment} owner=${process.pid}\n`);
  }

  remove(name: string, pid: number): void {
    rmSync(path.join(this.dir, `${name}.${pid}.pid`), { force: true });
  }
}

/** True if `pid` runs and its command line contains `fragment`. */
export function isRunning(pid: number, fragment: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(fragment);
  } catch {
    return false;
  }
}
