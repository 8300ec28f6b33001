// Ganeti-style locks in Redis: levels cluster > nodegroup > node > instance,
// each shared or exclusive. A job takes all locks of an opcode at once or
// none, so jobs never deadlock; conflicting jobs wait ("waiting" status) and
// are woken when one of their locks is released. Locks expire unless renewed,
// so a killed process cannot hold one forever. Taking and releasing happen
// inside the job-record scripts (jobs/store.ts), atomically with the status.
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';

export type LockLevel = 'cluster' | 'nodegroup' | 'node' | 'instance' | 'network';
export interface LockRequest {
  level: LockLevel;
  name: string;
  shared: boolean;
}
export const lockName = (r: LockRequest) => (r.level === 'cluster' ? 'cluster' : `${r.level}:${r.name}`);
export const lockKeys = (locks: LockRequest[]) => locks.map((l) => K.lock(lockName(l)));
export const lockModes = (locks: LockRequest[]) => locks.map((l) => (l.shared ? 's' : 'x'));

export const LOCK_TTL_MS = 15_000;
/** Waiters retry at least this often (a lock can also end by expiring, silently). */
const RETRY_MS = 500;

/** Lua helpers: a hash per lock, field "x" = exclusive owner, "s:<owner>" = shared owners. */
export const LOCK_LUA = `
local function can_lock(key, owner, mode)
  local x = redis.call('HGET', key, 'x')
  if x and x ~= owner then return false end
  if mode == 'x' then
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if f ~= 'x' and f ~= 's:' .. owner then return false end
    end
  end
  return true
end
local function take_lock(key, owner, mode, ttl)
  if mode == 'x' then redis.call('HSET', key, 'x', owner) else redis.call('HSET', key, 's:' .. owner, 1) end
  redis.call('PEXPIRE', key, ttl)
end
local function drop_lock(key, owner)
  if redis.call('HGET', key, 'x') == owner then redis.call('HDEL', key, 'x') end
  redis.call('HDEL', key, 's:' .. owner)
end
`;

/** Wakes the jobs waiting for a lock when a holder releases it. */
export class LockWaiters {
  private waiters = new Map<string, Set<() => void>>();

  async start(subscriber: Redis): Promise<void> {
    await subscriber.subscribe(K.lockReleased);
    subscriber.on('message', (channel: string, msg: string) => {
      if (channel !== K.lockReleased) return;
      for (const key of msg.split(' ')) {
        const set = this.waiters.get(key);
        if (!set) continue;
        this.waiters.delete(key);
        for (const w of set) w();
      }
    });
  }

  /** Resolves when one of `keys` is released, or after RETRY_MS. */
  released(keys: string[]): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        for (const k of keys) this.waiters.get(k)?.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, RETRY_MS);
      for (const k of keys) {
        let set = this.waiters.get(k);
        if (!set) this.waiters.set(k, (set = new Set()));
        set.add(wake);
      }
    });
  }
}

/** Keeps a running opcode's locks alive until its job record releases them. */
export function renewWhileHeld(redis: Redis, keys: string[]): () => void {
  if (!keys.length) return () => undefined;
  const timer = setInterval(() => {
    const p = redis.pipeline();
    for (const k of keys) p.pexpire(k, LOCK_TTL_MS);
    void p.exec().catch(() => undefined);
  }, LOCK_TTL_MS / 3);
  timer.unref();
  return () => clearInterval(timer);
}
