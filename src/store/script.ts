// Lua scripts run by SHA (EVALSHA), so the script text crosses the wire once
// per Redis server rather than with every call.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export class Script {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
