// Runs Ganeti jobs taken from the BullMQ `jobs` queue, opcode by opcode:
// queued → waiting (for locks) → running → success | error, with every step
// written to the job record before the next side effect. A job whose process
// dies is failed by BullMQ's stall check (maxStalledCount 0), never re-run;
// JobQueue.reconcile then settles its record.
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { QUEUE_PREFIX, JOBS_QUEUE } from '../src/store/keys.ts';
import type { ConfigStore } from '../src/store/config.ts';
import { ConflictError } from '../src/store/config.ts';
import { GanetiError, OpExecError } from './errors.ts';
import type { JobStore } from './store.ts';
import type { JobQueue } from './queue.ts';
import type { FilterRules } from './filters.ts';
import { lockKeys, lockModes, renewWhileHeld, type LockWaiters } from './locks.ts';
import type { Redis } from 'ioredis';
import { timestamp, type OpStatus } from './status.ts';
import { opImpl } from './ops/index.ts';
import type { OpContext } from './ops/context.ts';
import type { NodeCall } from './node-rpc.ts';
import type { Opcode } from './opcodes.ts';
import { checkDependencies } from './depends.ts';

/** Op statuses of a job its executor may still move on (a cancel sets them all to canceled). */
const NOT_CANCELED: OpStatus[] = ['queued', 'waiting', 'running', 'success'];

/** Every worker on the jobs queue must use the same stall settings. */
export const STALL = { lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 0 } as const;

export interface ExecutorDeps {
  connection: ConnectionOptions;
  cfg: ConfigStore;
  jobs: JobStore;
  /** For lock renewal; the executor's own commands go through `jobs`. */
  redis: Redis;
  waiters: LockWaiters;
  /** Where opcodes submit child jobs. */
  queue: JobQueue;
  filters: FilterRules;
  node: NodeCall;
  concurrency: number;
}

/** How often a job held back (dependency, filter rule) looks again; it frees its executor slot meanwhile. */
const RECHECK_MS = 200;

async function delay(job: Job, token: string | undefined): Promise<never> {
  await job.moveToDelayed(Date.now() + RECHECK_MS, token);
  throw new DelayedError();
}

export class Executor {
  private worker: Worker;

  constructor(private d: ExecutorDeps) {
    this.worker = new Worker(JOBS_QUEUE, (job: Job, token?: string) => this.run(job, token), {
      connection: d.connection, prefix: QUEUE_PREFIX, concurrency: d.concurrency, ...STALL,
    });
    this.worker.on('error', (err) => console.error('rapid: job worker:', err.message));
  }

  private async run(job: Job, token: string | undefined): Promise<void> {
    const id = Number(job.data.id);
    const rec = await this.d.jobs.get(id);
    if (!rec) return;
    let rateLimited: string | undefined;
    try {
      for (let i = 0; i < rec.ops.length; i++) {
        const status = rec.opstatus[i];
        if (status === 'success') continue;
        // Only queued ops run, and ops waiting for another job (re-run after a delay).
        if (status !== 'queued' && status !== 'waiting') return;
        const verdict = this.d.filters.decide(rec);
        if (verdict.action === 'PAUSE') return await delay(job, token);
        if (verdict.action === 'REJECT') {
          await this.d.jobs.appendLog(id, i, 'message', `Job rejected by filter rule ${verdict.rule}`);
          await this.d.jobs.transition(id, NOT_CANCELED, { opstatus: rec.opstatus.map((s) => (s === 'success' ? s : 'canceled')), end_ts: timestamp() });
          return;
        }
        if (verdict.action === 'RATE_LIMIT') {
          if (!(await this.d.filters.admit(verdict.rule, verdict.limit, id))) return await delay(job, token);
          rateLimited = verdict.rule;
        }
        const outcome = await this.runOp(id, rec.ops, rec.opstatus, rec.opresult, i, !rec.start_ts);
        if (outcome === 'delay') return await delay(job, token);
        if (outcome === 'ended') break;
      }
      if (rateLimited) await this.d.filters.leave(rateLimited, id);
    } catch (err) {
      // A delayed job keeps its rate-limit slot; an ended one gives it back.
      if (!(err instanceof DelayedError) && rateLimited) await this.d.filters.leave(rateLimited, id);
      throw err;
    }
  }

  /** 'next': the opcode succeeded; 'ended': the job ended here; 'delay': wait for a dependency. */
  private async runOp(id: number, ops: Opcode[], opstatus: OpStatus[], opresult: unknown[], i: number, first: boolean): Promise<'next' | 'ended' | 'delay'> {
    const op = ops[i];
    const { jobs, cfg } = this.d;
    let lockKeysHeld: string[] = [];
    const finish = async (err: unknown): Promise<'ended'> => {
      const e = err instanceof GanetiError ? err : new OpExecError((err as Error)?.message ?? String(err));
      if (!(err instanceof GanetiError)) console.error(`rapid: job ${id} ${op.OP_ID}:`, err);
      for (let j = i; j < ops.length; j++) {
        opstatus[j] = 'error';
        opresult[j] = j === i ? e.toResult() : ['OpExecError', ['Preceding opcode failed']];
      }
      await jobs.finishOp(id, lockKeysHeld, { opstatus, opresult, end_ts: timestamp(), cfg_serial: cfg.serial });
      return 'ended';
    };

    const dep = await checkDependencies(jobs, id, op);
    if (dep.kind === 'wait') {
      if (opstatus[i] !== 'waiting') {
        opstatus[i] = 'waiting';
        if ((await jobs.transition(id, NOT_CANCELED, first ? { opstatus, start_ts: timestamp() } : { opstatus })) !== 1) return 'ended';
      }
      return 'delay';
    }
    if (dep.kind === 'cancel') {
      await jobs.appendLog(id, i, 'message', dep.message);
      await jobs.transition(id, NOT_CANCELED, { opstatus: ops.map((_, j) => (opstatus[j] === 'success' ? 'success' : 'canceled')), end_ts: timestamp() });
      return 'ended';
    }
    if (dep.kind === 'error') return finish(new OpExecError(dep.message));

    let impl, keys: string[], modes: string[];
    try {
      impl = opImpl(op.OP_ID);
      const locks = impl.locks(op, cfg);
      keys = lockKeys(locks);
      modes = lockModes(locks);
    } catch (err) {
      return finish(err);
    }

    // queued → running in one step when the locks are free, else waiting
    // until a holder releases one; a cancel may end the job meanwhile.
    for (;;) {
      const woken = this.d.waiters.released(keys);
      const started = await jobs.startOp(id, i, keys, modes, first);
      if (started === -1) return 'ended';
      if (started === 1) break;
      await woken;
    }
    lockKeysHeld = keys;
    const stopRenewing = renewWhileHeld(this.d.redis, keys);
    try {
      opstatus[i] = 'running';
      const ctx: OpContext = {
        jobId: id,
        cfg,
        dryRun: op.dry_run === true,
        log: async (message) => { await jobs.appendLog(id, i, 'message', message); },
        node: this.d.node,
        submit: (childOps) => this.d.queue.submit(childOps),
      };
      let result: unknown = null;
      for (let attempt = 0; ; attempt++) {
        try {
          const plan = await impl.prereq(op, ctx);
          result = ctx.dryRun ? null : ((await impl.exec(plan, op, ctx)) ?? null);
          break;
        } catch (err) {
          // Another job changed an object we read but did not lock: re-check.
          if (err instanceof ConflictError && attempt < 5) continue;
          throw err;
        }
      }
      opstatus[i] = 'success';
      opresult[i] = result;
      const last = i === ops.length - 1;
      await jobs.finishOp(id, keys, last
        ? { opstatus, opresult, end_ts: timestamp(), cfg_serial: cfg.serial }
        : { opstatus, opresult, cfg_serial: cfg.serial });
      return 'next';
    } catch (err) {
      return finish(err);
    } finally {
      stopRenewing();
    }
  }

  async close(force = false): Promise<void> {
    await this.worker.close(force);
  }
}
