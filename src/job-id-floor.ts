// Job ids are never reused, even if the embedded Redis loses its data: a
// floor kept on disk always stays ahead of every id handed out (Ganeti keeps
// its job serial in a file for the same reason).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { K } from './store/keys.ts';

/** More ids than can be handed out between two saves plus one second of AOF loss. */
const MARGIN = 20_000;

export class JobIdFloor {
  private saved: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private file: string, private redis: Redis) {
    try {
      this.saved = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      this.saved = 0;
    }
  }

  /** If Redis is behind the last id saved on disk, it lost data: jump ahead. */
  async start(): Promise<void> {
    const cur = Number((await this.redis.get(K.jobId)) ?? 0);
    if (cur < this.saved) {
      const next = this.saved + MARGIN;
      console.error(`rapid: WARNING: job id counter was ${cur}, below the last id saved on disk (${this.saved}): Redis lost data. Continuing from ${next} so no job id is reused.`);
      await this.redis.set(K.jobId, next);
    }
    await this.save();
    this.timer = setInterval(() => void this.save().catch(() => undefined), 200);
    this.timer.unref();
  }

  private async save(): Promise<void> {
    const cur = Number((await this.redis.get(K.jobId)) ?? 0);
    if (cur === this.saved) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${cur}\n`);
    renameSync(tmp, this.file);
    this.saved = cur;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.save().catch(() => undefined);
  }
}
