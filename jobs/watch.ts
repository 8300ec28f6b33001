// Wakes /2/jobs/<id>/wait long-polls when a job changes. Redis pub/sub only
// wakes readers; they always re-read the record, so a lost message costs at
// most one timeout, never a wrong answer.
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';

export class JobWatch {
  private waiters = new Map<number, Set<() => void>>();

  async start(subscriber: Redis): Promise<void> {
    await subscriber.subscribe(K.jobChanged);
    subscriber.on('message', (channel: string, msg: string) => {
      if (channel !== K.jobChanged) return;
      const id = Number(msg);
      const set = this.waiters.get(id);
      if (!set) return;
      this.waiters.delete(id);
      for (const w of set) w();
    });
  }

  /**
   * A promise for the next change of job `id` (or the timeout). Create it
   * before reading the job so a change in between is not missed.
   */
  next(id: number, timeoutMs: number): { changed: Promise<void>; cancel(): void } {
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    let done!: () => void;
    const changed = new Promise<void>((resolve) => { done = resolve; });
    const timer = setTimeout(() => cancel(), timeoutMs);
    const wake = () => { clearTimeout(timer); done(); };
    const cancel = () => {
      clearTimeout(timer);
      const s = this.waiters.get(id);
      s?.delete(wake);
      if (s && !s.size) this.waiters.delete(id);
      done();
    };
    set.add(wake);
    return { changed, cancel };
  }
}
