// Runs Ganeti jobs taken from the BullMQ `jobs` queue, opcode by opcode:
// queued → waiting (for locks) → running → success | error, with every step
// written to the job record before the next side effect. A job whose process
// dies is failed by BullMQ's stall check (maxStalledCount 0), never re-run;
// JobQueue.reconcile then settles its record.
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import { QUEUE_PREFIX, JOBS_QUEUE } from '../src/store/keys.ts';
import type { ConfigStore } from '../src/store/config.ts';
import { ConflictError } from '../src/store/config.ts';
import { GanetiError, OpExecError } from './errors.ts';
import type { JobStore } from './store.ts';
import type { LockManager } from './locks.ts';
import { timestamp, type OpStatus } from './status.ts';
import { opImpl } from './ops/index.ts';
import type { OpContext } from './ops/context.ts';
import type { NodeCall } from './node-rpc.ts';
import type { Opcode } from './opcodes.ts';

/** Op statuses of a job its executor may still move on (a cancel sets them all to canceled). */
const NOT_CANCELED: OpStatus[] = ['queued', 'waiting', 'running', 'success'];

/** Every worker on the jobs queue must use the same stall settings. */
export const STALL = { lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 0 } as const;

export interface ExecutorDeps {
  connection: ConnectionOptions;
  cfg: ConfigStore;
  jobs: JobStore;
  locks: LockManager;
  node: NodeCall;
  concurrency: number;
}

export class Executor {
  private worker: Worker;

  constructor(private d: ExecutorDeps) {
    this.worker = new Worker(JOBS_QUEUE, (job: Job) => this.run(Number(job.data.id)), {
      connection: d.connection, prefix: QUEUE_PREFIX, concurrency: d.concurrency, ...STALL,
    });
    this.worker.on('error', (err) => console.error('rapid: job worker:', err.message));
  }

  async run(id: number): Promise<void> {
    const rec = await this.d.jobs.get(id);
    if (!rec) return;
    for (let i = 0; i < rec.ops.length; i++) {
      const status = rec.opstatus[i];
      if (status !== 'queued') return; // canceled, or finished by someone else
      const ok = await this.runOp(id, rec.ops, rec.opstatus, rec.opresult, i);
      if (!ok) return;
    }
  }

  /** Returns false when the job ended (error or cancel) at this opcode. */
  private async runOp(id: number, ops: Opcode[], opstatus: OpStatus[], opresult: unknown[], i: number): Promise<boolean> {
    const op = ops[i];
    const { jobs, cfg, locks } = this.d;
    const owner = `job:${id}`;
    const finish = async (err: unknown) => {
      const e = err instanceof GanetiError ? err : new OpExecError((err as Error)?.message ?? String(err));
      if (!(err instanceof GanetiError)) console.error(`rapid: job ${id} ${op.OP_ID}:`, err);
      for (let j = i; j < ops.length; j++) {
        opstatus[j] = 'error';
        opresult[j] = j === i ? e.toResult() : ['OpExecError', ['Preceding opcode failed']];
      }
      await jobs.update(id, { opstatus, opresult, end_ts: timestamp() });
      return false;
    };

    let impl;
    try {
      impl = opImpl(op.OP_ID);
    } catch (err) {
      return finish(err);
    }

    // queued → waiting. A cancel may win this race; then the job is over.
    opstatus[i] = 'waiting';
    const startFields = i === 0 ? { opstatus, start_ts: timestamp() } : { opstatus };
    if ((await jobs.transition(id, NOT_CANCELED, startFields)) !== 1) return false;

    let held;
    try {
      held = await locks.acquire(owner, impl.locks(op, cfg), async () => undefined,
        async () => (await jobs.get(id))?.opstatus[i] === 'waiting');
    } catch (err) {
      return finish(err);
    }
    if (!held) return false; // canceled while waiting for locks

    try {
      opstatus[i] = 'running';
      if ((await jobs.transition(id, NOT_CANCELED, { opstatus })) !== 1) return false;
      const ctx: OpContext = {
        jobId: id,
        cfg,
        dryRun: op.dry_run === true,
        log: async (message) => { await jobs.appendLog(id, i, 'message', message); },
        node: this.d.node,
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
      await jobs.update(id, last ? { opstatus, opresult, end_ts: timestamp() } : { opstatus, opresult });
      return true;
    } catch (err) {
      return finish(err);
    } finally {
      await held.release();
    }
  }

  async close(force = false): Promise<void> {
    await this.worker.close(force);
  }
}
