// Job ids are never reused, even if the embedded Redis loses its data: a
// floor kept on disk always stays ahead of every id handed out (Ganeti keeps
// its job serial in a file for the same reason).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { K } from './store/keys.ts';

const MARGIN = 20_000;

export class JobIdFloor {
  private floor: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private file: string, private redis: Redis) {
    try {
      this.floor = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      this.floor = 0;
    }
  }

  /** Raise the counter to the floor if Redis came back with less. */
  async start(): Promise<void> {
    const cur = Number((await this.redis.get(K.jobId)) ?? 0);
    if (cur < this.floor) {
      console.error(`rapid: WARNING: job id counter was ${cur}, below the on-disk floor ${this.floor}: Redis lost data. Continuing from ${this.floor} so no job id is reused.`);
      await this.redis.set(K.jobId, this.floor);
    }
    await this.check();
    this.timer = setInterval(() => void this.check().catch(() => undefined), 200);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const cur = Number((await this.redis.get(K.jobId)) ?? 0);
    if (cur + MARGIN / 4 < this.floor) return;
    this.floor = cur + MARGIN;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${this.floor}\n`);
    renameSync(tmp, this.file);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
