// Redis connections. Request paths get a client that fails fast while Redis
// is down; BullMQ workers need one that retries forever.
import { Redis, type RedisOptions } from 'ioredis';

export function connect(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, ...opts });
}

export function connectForWorker(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
