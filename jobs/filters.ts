// Job filter rules (Ganeti's design-optables): ordered rules whose predicates
// match a job's id, opcodes or reason trail, with an action: ACCEPT, PAUSE
// (keep it queued), REJECT (cancel it), CONTINUE, or RATE_LIMIT n. Rules live
// in Redis; every executor keeps them in memory and reloads on change.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';
import { Script } from '../src/store/script.ts';
import { compileFilter, type Predicate } from '../src/qlang/filter.ts';
import type { Field } from '../src/qlang/field.ts';
import { ParameterError } from './errors.ts';
import type { Opcode } from './opcodes.ts';

export type FilterAction = 'ACCEPT' | 'PAUSE' | 'REJECT' | 'CONTINUE' | ['RATE_LIMIT', number];

export interface FilterRule {
  uuid: string;
  watermark: number;
  priority: number;
  predicates: unknown[];
  action: FilterAction;
  reason_trail: unknown[];
}

/** What a rule decides for a job; rate limits name the rule that admits it. */
export type Verdict = { action: 'ACCEPT' } | { action: 'PAUSE' } | { action: 'REJECT'; rule: string } | { action: 'RATE_LIMIT'; rule: string; limit: number };

interface JobView { id: number; ops: Opcode[] }
type ReasonRow = { source: unknown; reason: unknown; timestamp: unknown };

const field = <R>(name: string, kind: Field<R>['def']['kind'], get: (r: R) => unknown): Field<R> =>
  ({ def: { name, title: name, kind, doc: name }, get });

/** Compiles one predicate ([name, filter]) into a test on a job. */
function compilePredicate(pred: unknown, watermark: number): Predicate<JobView> {
  if (!Array.isArray(pred) || pred.length !== 2 || typeof pred[0] !== 'string') {
    throw new ParameterError(`Invalid filter predicate ${JSON.stringify(pred)}: expected [name, filter]`);
  }
  // "watermark" in a value position stands for the rule's watermark.
  const substitute = (v: unknown): unknown => (v === 'watermark' ? watermark : Array.isArray(v) ? v.map(substitute) : v);
  const qfilter = substitute(pred[1]);
  switch (pred[0]) {
    case 'jobid': {
      const f = field<JobView>('id', 'number', (j) => j.id);
      return compileFilter(qfilter, (n) => (n === 'id' ? f : undefined)).test;
    }
    case 'opcode': {
      // Any opcode field may appear; a field the opcode lacks is null.
      const test = compileFilter<Opcode>(qfilter, (n) => field<Opcode>(n, 'other', (op) => op[n] ?? null)).test;
      return (j) => j.ops.some(test);
    }
    case 'reason': {
      const fields: Record<string, Field<ReasonRow>> = {
        source: field('source', 'text', (r) => r.source), reason: field('reason', 'text', (r) => r.reason), timestamp: field('timestamp', 'number', (r) => r.timestamp),
      };
      const test = compileFilter<ReasonRow>(qfilter, (n) => fields[n]).test;
      return (j) => j.ops.some((op) => ((op.reason as unknown[][] | undefined) ?? []).some(([source, reason, timestamp]) => test({ source, reason, timestamp })));
    }
    default:
      throw new ParameterError(`Unknown filter predicate '${pred[0]}'`);
  }
}

export function validateAction(action: unknown): FilterAction {
  if (action === 'ACCEPT' || action === 'PAUSE' || action === 'REJECT' || action === 'CONTINUE') return action;
  if (Array.isArray(action) && action.length === 2 && action[0] === 'RATE_LIMIT' && Number.isInteger(action[1]) && (action[1] as number) > 0) {
    return ['RATE_LIMIT', action[1] as number];
  }
  throw new ParameterError(`Invalid filter action ${JSON.stringify(action)}: expected ACCEPT, PAUSE, REJECT, CONTINUE or ["RATE_LIMIT", n] with n > 0`);
}

interface Compiled { rule: FilterRule; matches: Predicate<JobView> }

const compileRule = (rule: FilterRule): Compiled => {
  const preds = rule.predicates.map((p) => compilePredicate(p, rule.watermark));
  return { rule, matches: (j) => preds.every((p) => p(j)) };
};

/** Rules in Ganeti's order: priority, then watermark, then uuid. */
const ORDER = (a: FilterRule, b: FilterRule) => a.priority - b.priority || a.watermark - b.watermark || (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0);

/** Admit a job to a rate-limited rule if fewer than `limit` admitted jobs are still running. */
const ADMIT = new Script(`
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
return 1`);

export class FilterRules {
  private compiled: Compiled[] = [];

  constructor(private redis: Redis) {}

  /** Load the rules and follow changes (executors); readers may just call list(). */
  async start(subscriber: Redis): Promise<void> {
    await subscriber.subscribe(K.filtersChanged);
    subscriber.on('message', (channel: string) => {
      if (channel === K.filtersChanged) void this.reload().catch((e) => console.error('rapid: filters:', e.message));
    });
    await this.reload();
  }

  async reload(): Promise<void> {
    this.compiled = (await this.list()).map(compileRule);
  }

  async list(): Promise<FilterRule[]> {
    const all = await this.redis.hvals(K.filters);
    return all.map((j) => JSON.parse(j) as FilterRule).sort(ORDER);
  }

  async get(uuid: string): Promise<FilterRule | null> {
    const j = await this.redis.hget(K.filters, uuid);
    return j ? (JSON.parse(j) as FilterRule) : null;
  }

  /** luxi ReplaceFilter: create (uuid null) or replace; the watermark is the newest job id now. */
  async replace(uuid: string | null, priority: number, predicates: unknown[], action: unknown, reason: unknown[]): Promise<string> {
    const rule: FilterRule = {
      uuid: uuid ?? randomUUID(),
      watermark: Number((await this.redis.get(K.jobId)) ?? 0),
      priority, predicates, action: validateAction(action), reason_trail: reason,
    };
    if (priority < 0) throw new ParameterError('Filter priority must be non-negative');
    compileRule(rule); // refuse rules that would not compile
    await this.redis.multi().hset(K.filters, rule.uuid, JSON.stringify(rule)).publish(K.filtersChanged, rule.uuid).exec();
    return rule.uuid;
  }

  async remove(uuid: string): Promise<boolean> {
    const [[, n]] = (await this.redis.multi().hdel(K.filters, uuid).publish(K.filtersChanged, uuid).exec())!;
    return n === 1;
  }

  /** The first rule whose predicates all match and whose action is not CONTINUE decides. */
  decide(job: JobView): Verdict {
    for (const { rule, matches } of this.compiled) {
      if (rule.action === 'CONTINUE' || !matches(job)) continue;
      if (Array.isArray(rule.action)) return { action: 'RATE_LIMIT', rule: rule.uuid, limit: rule.action[1] };
      if (rule.action === 'REJECT') return { action: 'REJECT', rule: rule.uuid };
      return { action: rule.action };
    }
    return { action: 'ACCEPT' };
  }

  async admit(rule: string, limit: number, jobId: number): Promise<boolean> {
    return (await ADMIT.run(this.redis, [K.filterRunning(rule)], [String(jobId), limit])) === 1;
  }

  async leave(rule: string, jobId: number): Promise<void> {
    await this.redis.zrem(K.filterRunning(rule), String(jobId));
  }
}
