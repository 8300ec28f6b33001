// Redis connections. Request paths get a client that fails fast while Redis
// is down; BullMQ workers need one that retries forever.
import { Redis, type RedisOptions } from 'ioredis';

export function connect(url: string, opts: RedisOptions = {}): Redis {
  return logErrors(new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, ...opts }));
}

export function connectForWorker(url: string): Redis {
  return logErrors(new Redis(url, { maxRetriesPerRequest: null }));
}

/** ioredis reconnects by itself; say so once per outage instead of crashing on 'error'. */
function logErrors(r: Redis): Redis {
  let last = '';
  r.on('error', (err: Error) => {
    if (err.message !== last) console.error(`rapid: redis: ${err.message}`);
    last = err.message;
  });
  r.on('ready', () => { last = ''; });
  return r;
}

/** Close a connection at shutdown; errors from a closing socket are expected. */
export async function closeQuietly(r: Redis): Promise<void> {
  r.removeAllListeners('error');
  r.on('error', () => undefined);
  await r.quit().catch(() => r.disconnect());
}
