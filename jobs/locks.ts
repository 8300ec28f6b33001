// Ganeti-style locks in Redis: levels cluster > nodegroup > node > instance,
// each shared or exclusive. A job takes all locks of an opcode at once or
// none, so jobs never deadlock; conflicting jobs wait ("waiting" status) and
// are woken when a lock is released. Locks expire unless renewed, so a killed
// process cannot hold one forever.
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';

export type LockLevel = 'cluster' | 'nodegroup' | 'node' | 'instance' | 'network';
export interface LockRequest {
  level: LockLevel;
  name: string;
  shared: boolean;
}
export const lockName = (r: LockRequest) => (r.level === 'cluster' ? 'cluster' : `${r.level}:${r.name}`);

export const LOCK_TTL_MS = 15_000;

// Hash per lock: field "x" = exclusive owner, "s:<owner>" = shared owners.
const ACQUIRE = `
local owner = ARGV[1]
for i = 1, #KEYS do
  local mode = ARGV[2 + i]
  local x = redis.call('HGET', KEYS[i], 'x')
  if x and x ~= owner then return 0 end
  if mode == 'x' then
    local fields = redis.call('HKEYS', KEYS[i])
    for _, f in ipairs(fields) do
      if f ~= 'x' and f ~= 's:' .. owner then return 0 end
    end
  end
end
for i = 1, #KEYS do
  if ARGV[2 + i] == 'x' then redis.call('HSET', KEYS[i], 'x', owner)
  else redis.call('HSET', KEYS[i], 's:' .. owner, 1) end
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
`;

const RELEASE = `
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'x') == ARGV[1] then redis.call('HDEL', KEYS[i], 'x') end
  redis.call('HDEL', KEYS[i], 's:' .. ARGV[1])
end
redis.call('PUBLISH', ARGV[2], '1')
return 1
`;

export class LockManager {
  private waiters = new Set<() => void>();

  constructor(private redis: Redis) {}

  /** Subscribe to releases so waiting jobs retry at once rather than polling. */
  async start(subscriber: Redis): Promise<void> {
    await subscriber.subscribe(K.lockReleased);
    subscriber.on('message', (channel: string) => {
      if (channel !== K.lockReleased) return;
      const ws = [...this.waiters];
      this.waiters.clear();
      for (const w of ws) w();
    });
  }

  async tryAcquire(owner: string, locks: LockRequest[]): Promise<boolean> {
    if (!locks.length) return true;
    const keys = locks.map((l) => K.lock(lockName(l)));
    const modes = locks.map((l) => (l.shared ? 's' : 'x'));
    return (await this.redis.eval(ACQUIRE, keys.length, ...keys, owner, LOCK_TTL_MS, ...modes)) === 1;
  }

  /**
   * Wait until all locks are held. `onWait` runs once when the first attempt
   * fails; `stillWanted` is checked before each retry (cancellation).
   */
  async acquire(owner: string, locks: LockRequest[], onWait: () => Promise<void>, stillWanted: () => Promise<boolean>): Promise<Held | null> {
    let waited = false;
    for (;;) {
      const woken = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        this.waiters.add(() => { clearTimeout(t); resolve(); });
      });
      if (await this.tryAcquire(owner, locks)) return new Held(this.redis, owner, locks);
      if (!waited) { waited = true; await onWait(); }
      await woken;
      if (!(await stillWanted())) return null;
    }
  }
}

/** Locks held by one job; renewed until released. */
export class Held {
  private timer: NodeJS.Timeout | undefined;
  private keys: string[];
  constructor(private redis: Redis, private owner: string, locks: LockRequest[]) {
    this.keys = locks.map((l) => K.lock(lockName(l)));
    if (this.keys.length) {
      this.timer = setInterval(() => {
        const p = this.redis.pipeline();
        for (const k of this.keys) p.pexpire(k, LOCK_TTL_MS);
        void p.exec().catch(() => undefined);
      }, LOCK_TTL_MS / 3);
      this.timer.unref();
    }
  }
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (!this.keys.length) return;
    await this.redis.eval(RELEASE, this.keys.length, ...this.keys, this.owner, K.lockReleased);
  }
}
