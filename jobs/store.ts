// Job records in Ganeti's shape, owned by rapid (BullMQ only schedules them).
// A record is a Redis hash; its log is a list whose length is the serial of
// the newest entry. Every change is announced on one channel so /wait
// long-polls can react. Status changes are scripts, so a cancel and the
// executor can never both win, and an opcode's locks are taken and released
// in the same step as its status changes.
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';
import { Script } from '../src/store/script.ts';
import { calcStatus, timestamp, type OpStatus, type Timestamp } from './status.ts';
import { LOCK_LUA, LOCK_TTL_MS } from './locks.ts';
import type { Opcode } from './opcodes.ts';

export type LogEntry = [number, Timestamp, string, unknown];

export interface JobRecord {
  id: number;
  ops: Opcode[];
  opstatus: OpStatus[];
  opresult: unknown[];
  oplog: LogEntry[][];
  summary: string[];
  received_ts: Timestamp | null;
  start_ts: Timestamp | null;
  end_ts: Timestamp | null;
  /** Config serial after the job's last change (rapid's own, for read-your-writes). */
  cfg_serial?: number;
}

const JSON_FIELDS = ['ops', 'opstatus', 'opresult', 'summary', 'received_ts', 'start_ts', 'end_ts', 'cfg_serial'] as const;
type Fields = Partial<Pick<JobRecord, (typeof JSON_FIELDS)[number]>>;

const fieldArgs = (fields: Fields): string[] => Object.entries(fields).flatMap(([k, v]) => [k, JSON.stringify(v)]);

// Sets ARGV field/value pairs from `from` on; finishing (end_ts) leaves the pending set.
const SET_FIELDS_LUA = `
local function set_fields(key, pending, id, from)
  for i = from, #ARGV, 2 do
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
    if ARGV[i] == 'end_ts' then redis.call('ZREM', pending, id) end
  end
end
`;

const CREATE = new Script(`
local id = tonumber(ARGV[6]) or redis.call('INCR', KEYS[1])
redis.call('HSET', 'rapid:job:' .. id, 'ops', ARGV[1], 'opstatus', ARGV[2], 'opresult', ARGV[3], 'summary', ARGV[4],
  'received_ts', ARGV[5], 'start_ts', 'null', 'end_ts', 'null')
redis.call('ZADD', KEYS[2], id, id)
redis.call('ZADD', KEYS[3], id, id)
return id`);

const APPEND_LOG = new Script(`
local n = redis.call('LLEN', KEYS[1]) + 1
redis.call('RPUSH', KEYS[1], '[' .. ARGV[1] .. ',' .. n .. ',' .. ARGV[2] .. ']')
redis.call('PUBLISH', KEYS[2], ARGV[3])
return n`);

/** KEYS: job, pending, changed-channel. ARGV: id, allowed statuses (comma list), field/value pairs. */
const TRANSITION = new Script(`${SET_FIELDS_LUA}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local allowed = {}
for s in string.gmatch(ARGV[2], '[^,]+') do allowed[s] = true end
for _, s in ipairs(cjson.decode(redis.call('HGET', KEYS[1], 'opstatus'))) do if not allowed[s] then return 0 end end
set_fields(KEYS[1], KEYS[2], ARGV[1], 3)
redis.call('PUBLISH', KEYS[3], ARGV[1])
return 1`);

/** KEYS: job, pending, changed-channel. ARGV: id, exact opstatus JSON, field/value pairs. */
const SETTLE = new Script(`${SET_FIELDS_LUA}
if redis.call('HGET', KEYS[1], 'opstatus') ~= ARGV[2] then return 0 end
set_fields(KEYS[1], KEYS[2], ARGV[1], 3)
redis.call('PUBLISH', KEYS[3], ARGV[1])
return 1`);

/**
 * Take an opcode's locks and mark it running, or mark it waiting when a lock
 * is held elsewhere; -1 when the job was canceled meanwhile.
 * KEYS: job, changed-channel, lock keys... ARGV: id, op index (1-based), owner,
 * ttl, start_ts (JSON or ''), modes...
 */
const START_OP = new Script(`${LOCK_LUA}
local st = cjson.decode(redis.call('HGET', KEYS[1], 'opstatus'))
for _, s in ipairs(st) do
  if s == 'canceled' or s == 'canceling' or s == 'error' then return -1 end
end
local ok = true
for k = 3, #KEYS do
  if not can_lock(KEYS[k], ARGV[3], ARGV[3 + k]) then ok = false break end
end
if ok then for k = 3, #KEYS do take_lock(KEYS[k], ARGV[3], ARGV[3 + k], ARGV[4]) end end
local i = tonumber(ARGV[2])
local want = ok and 'running' or 'waiting'
if st[i] ~= want then
  st[i] = want
  redis.call('HSET', KEYS[1], 'opstatus', cjson.encode(st))
  if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'start_ts') == 'null' then redis.call('HSET', KEYS[1], 'start_ts', ARGV[5]) end
  redis.call('PUBLISH', KEYS[2], ARGV[1])
end
return ok and 1 or 0`);

/**
 * Record an opcode's outcome and release its locks in one step.
 * KEYS: job, pending, changed-channel, released-channel, lock keys...
 * ARGV: id, owner, field/value pairs.
 */
const FINISH_OP = new Script(`${LOCK_LUA}${SET_FIELDS_LUA}
set_fields(KEYS[1], KEYS[2], ARGV[1], 3)
if #KEYS > 4 then
  local names = {}
  for k = 5, #KEYS do drop_lock(KEYS[k], ARGV[2]); names[#names + 1] = KEYS[k] end
  redis.call('PUBLISH', KEYS[4], table.concat(names, ' '))
end
redis.call('PUBLISH', KEYS[3], ARGV[1])
return 1`);

export class JobStore {
  constructor(private redis: Redis) {}

  /** Reserve a job id (for jobs whose opcodes must know their own id). */
  async allocateId(): Promise<number> {
    return this.redis.incr(K.jobId);
  }

  /** Write the queued record, allocating its id unless one was reserved, in one round trip. */
  async create(ops: Opcode[], summary: string[], reservedId?: number): Promise<number> {
    return (await CREATE.run(this.redis, [K.jobId, K.jobsLive, K.jobsPending], [
      JSON.stringify(ops), JSON.stringify(ops.map(() => 'queued')), JSON.stringify(ops.map(() => null)),
      JSON.stringify(summary), JSON.stringify(timestamp()), reservedId === undefined ? '' : String(reservedId),
    ])) as number;
  }

  async get(id: number): Promise<JobRecord | null> {
    const [h, log] = await Promise.all([this.redis.hgetall(K.job(id)), this.redis.lrange(K.jobLog(id), 0, -1)]);
    if (!h.ops) return null;
    return this.decode(id, h, log);
  }

  /** Records without their logs (for /2/jobs?bulk=1). */
  async getMany(ids: number[]): Promise<(JobRecord | null)[]> {
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(K.job(id));
    const res = (await pipe.exec()) ?? [];
    return res.map(([, h], i) => ((h as Record<string, string>)?.ops ? this.decode(ids[i], h as Record<string, string>, null) : null));
  }

  private decode(id: number, h: Record<string, string>, log: string[] | null): JobRecord {
    const rec = { id } as JobRecord;
    for (const f of JSON_FIELDS) if (h[f] !== undefined) (rec as unknown as Record<string, unknown>)[f] = JSON.parse(h[f]);
    rec.oplog = rec.ops.map(() => []);
    for (const line of log ?? []) {
      const [opIndex, ...entry] = JSON.parse(line) as [number, ...LogEntry];
      rec.oplog[opIndex]?.push(entry as LogEntry);
    }
    return rec;
  }

  /** Log entries with serial > `after`, flattened over all opcodes. */
  async logSince(id: number, after: number): Promise<LogEntry[]> {
    const lines = await this.redis.lrange(K.jobLog(id), after, -1);
    return lines.map((l) => (JSON.parse(l) as [number, ...LogEntry]).slice(1) as LogEntry);
  }

  /** Append to an opcode's log; the serial is the entry's position in the job's list. */
  async appendLog(id: number, opIndex: number, type: string, message: unknown): Promise<number> {
    return (await APPEND_LOG.run(this.redis, [K.jobLog(id), K.jobChanged],
      [opIndex, JSON.stringify([timestamp(), type, message]).slice(1, -1), String(id)])) as number;
  }

  /**
   * Compare-and-set on op statuses: apply `fields` only if every op status is
   * in `from`. Returns 1 on success, 0 if the job moved on, -1 if unknown.
   */
  async transition(id: number, from: OpStatus[], fields: Fields): Promise<number> {
    return (await TRANSITION.run(this.redis, [K.job(id), K.jobsPending, K.jobChanged], [String(id), from.join(','), ...fieldArgs(fields)])) as number;
  }

  /** Apply `fields` only if the op statuses are still exactly `expected` (the reconciler's CAS). */
  async settleIfUnchanged(id: number, expected: OpStatus[], fields: Fields): Promise<boolean> {
    return (await SETTLE.run(this.redis, [K.job(id), K.jobsPending, K.jobChanged], [String(id), JSON.stringify(expected), ...fieldArgs(fields)])) === 1;
  }

  /** 1: locks taken, op running; 0: op waiting for a lock; -1: the job was canceled. */
  async startOp(id: number, opIndex: number, lockKeys: string[], modes: string[], first: boolean): Promise<number> {
    return (await START_OP.run(this.redis, [K.job(id), K.jobChanged, ...lockKeys],
      [String(id), opIndex + 1, `job:${id}`, LOCK_TTL_MS, first ? JSON.stringify(timestamp()) : '', ...modes])) as number;
  }

  /** Record an opcode's outcome (and the job's end) and release its locks. */
  async finishOp(id: number, lockKeys: string[], fields: Fields): Promise<void> {
    await FINISH_OP.run(this.redis, [K.job(id), K.jobsPending, K.jobChanged, K.lockReleased, ...lockKeys],
      [String(id), `job:${id}`, ...fieldArgs(fields)]);
  }

  async pendingIds(): Promise<number[]> {
    return (await this.redis.zrange(K.jobsPending, '0', '-1')).map(Number);
  }

  async liveIds(): Promise<number[]> {
    return (await this.redis.zrange(K.jobsLive, '0', '-1')).map(Number);
  }

  /**
   * Move finished jobs older than `retentionS` from the live list to the
   * archive, and delete the oldest archived jobs beyond `archiveMax`.
   */
  async archive(retentionS: number, archiveMax: number, batch = 1000): Promise<number> {
    const ids = (await this.redis.zrange(K.jobsLive, '0', String(batch - 1))).map(Number);
    if (!ids.length) return 0;
    const recs = await this.getMany(ids);
    const cutoff = Date.now() / 1000 - retentionS;
    const pipe = this.redis.pipeline();
    let moved = 0;
    recs.forEach((r, i) => {
      if (!r) { pipe.zrem(K.jobsLive, String(ids[i])); return; }
      const st = calcStatus(r.opstatus);
      if ((st === 'success' || st === 'error' || st === 'canceled') && r.end_ts && r.end_ts[0] <= cutoff) {
        pipe.zrem(K.jobsLive, String(r.id)).zadd(K.jobsArchived, r.id, String(r.id));
        moved++;
      }
    });
    await pipe.exec();
    const excess = (await this.redis.zcard(K.jobsArchived)) - archiveMax;
    if (excess > 0) {
      const old = await this.redis.zrange(K.jobsArchived, '0', String(excess - 1));
      const p = this.redis.pipeline();
      for (const id of old) p.del(K.job(Number(id)), K.jobLog(Number(id))).zrem(K.jobsArchived, id);
      await p.exec();
    }
    return moved;
  }
}
