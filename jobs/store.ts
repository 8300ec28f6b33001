// Job records in Ganeti's shape, owned by rapid (BullMQ only schedules them).
// A record is a Redis hash; its log is a list whose length is the serial of
// the newest entry. Every change is announced on one channel so /wait
// long-polls and caches can react.
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';
import { calcStatus, timestamp, type OpStatus, type Timestamp } from './status.ts';
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
}

const JSON_FIELDS = ['ops', 'opstatus', 'opresult', 'summary', 'received_ts', 'start_ts', 'end_ts'] as const;

/** Transition op statuses only while every op is still in one of `from`. */
const TRANSITION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local st = cjson.decode(redis.call('HGET', KEYS[1], 'opstatus'))
local allowed = {}
for s in string.gmatch(ARGV[1], '[^,]+') do allowed[s] = true end
for _, s in ipairs(st) do if not allowed[s] then return 0 end end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'end_ts' then redis.call('ZREM', KEYS[4], KEYS[3]) end
end
redis.call('PUBLISH', KEYS[2], KEYS[3])
return 1
`;

export class JobStore {
  constructor(private redis: Redis) {}

  /** Allocate an id and write the queued record in one round trip. */
  async create(ops: Opcode[], summary: string[]): Promise<number> {
    const received = JSON.stringify(timestamp());
    const opstatus = JSON.stringify(ops.map(() => 'queued'));
    const opresult = JSON.stringify(ops.map(() => null));
    const id = (await this.redis.eval(
      `local id = redis.call('INCR', KEYS[1])
       local key = 'rapid:job:' .. id
       redis.call('HSET', key, 'ops', ARGV[1], 'opstatus', ARGV[2], 'opresult', ARGV[3], 'summary', ARGV[4],
         'received_ts', ARGV[5], 'start_ts', 'null', 'end_ts', 'null')
       redis.call('ZADD', KEYS[2], id, id)
       redis.call('ZADD', KEYS[3], id, id)
       return id`,
      3, K.jobId, K.jobsLive, K.jobsPending, JSON.stringify(ops), opstatus, opresult, JSON.stringify(summary), received,
    )) as number;
    return id;
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
    for (const f of JSON_FIELDS) (rec as unknown as Record<string, unknown>)[f] = JSON.parse(h[f]);
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

  async appendLog(id: number, opIndex: number, type: string, message: unknown): Promise<number> {
    // The serial is the list position, so reserve it with a placeholder-free
    // script: read the length and push in one atomic step.
    const serial = (await this.redis.eval(
      `local n = redis.call('LLEN', KEYS[1]) + 1
       redis.call('RPUSH', KEYS[1], '[' .. ARGV[1] .. ',' .. n .. ',' .. ARGV[2] .. ']')
       redis.call('PUBLISH', KEYS[2], ARGV[3])
       return n`,
      2, K.jobLog(id), K.jobChanged, opIndex, JSON.stringify([timestamp(), type, message]).slice(1, -1), String(id),
    )) as number;
    return serial;
  }

  /** Set fields unconditionally (only the job's executor writes a running job). */
  async update(id: number, fields: Partial<Pick<JobRecord, (typeof JSON_FIELDS)[number]>>): Promise<void> {
    const args: string[] = [];
    for (const [k, v] of Object.entries(fields)) args.push(k, JSON.stringify(v));
    const tx = this.redis.multi().hset(K.job(id), ...args);
    if (fields.end_ts) tx.zrem(K.jobsPending, String(id));
    await tx.publish(K.jobChanged, String(id)).exec();
  }

  /**
   * Compare-and-set on op statuses: apply `fields` only if every op status is
   * in `from`. Returns 1 on success, 0 if the job moved on, -1 if unknown.
   */
  async transition(id: number, from: OpStatus[], fields: Partial<Pick<JobRecord, (typeof JSON_FIELDS)[number]>>): Promise<number> {
    const args: string[] = [from.join(',')];
    for (const [k, v] of Object.entries(fields)) args.push(k, JSON.stringify(v));
    return (await this.redis.eval(TRANSITION, 4, K.job(id), K.jobChanged, String(id), K.jobsPending, ...args)) as number;
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
