// One node worker per run directory: guests' QMP sockets take one client at
// a time, so two workers on the same guests would fight over them. The lock
// is a pidfile (flock is not in Node's standard library); a holder that died
// (kill -9) leaves a stale file, which the next worker takes over.
import { link, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { processAlive } from './host.ts';
import path from 'node:path';

export class RunDirBusyError extends Error {}

/** Takes `<dir>/worker.lock` for this process; returns the release function. */
export async function lockRunDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const lock = path.join(dir, 'worker.lock');
  const mine = `${lock}.${process.pid}`;
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(mine, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 5) throw err;
      }
      const holder = parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
      if (holder === process.pid) break;
      if (holder > 0 && processAlive(holder)) throw new RunDirBusyError(`another node worker (pid ${holder}) manages ${dir}`);
      await rm(lock, { force: true });
    }
  } finally {
    await rm(mine, { force: true });
  }
  return async () => {
    const holder = parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
    if (holder === process.pid) await rm(lock, { force: true });
  };
}
