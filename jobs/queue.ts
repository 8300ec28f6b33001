// Submitting and cancelling jobs. The record is written before the BullMQ
// entry, and a reconciler settles records whose entry is gone (process
// killed, Redis lost the queue), so a job is never lost silently nor run twice.
import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUE_PREFIX, JOBS_QUEUE } from '../src/store/keys.ts';
import { QueueUnavailable } from './errors.ts';
import type { JobStore } from './store.ts';
import { calcStatus, timestamp, FINALIZED } from './status.ts';
import { summary, type Opcode } from './opcodes.ts';
import { hasRelative, resolveRelative } from './depends.ts';

const bullId = (id: number) => `job-${id}`;

export class JobQueue {
  readonly queue: Queue;
  /** Ganeti's "queue drained" flag: new submissions are refused. */
  drained = false;

  constructor(connection: ConnectionOptions, private jobs: JobStore) {
    this.queue = new Queue(JOBS_QUEUE, {
      connection, prefix: QUEUE_PREFIX,
      // rapid keeps its own record of every job; BullMQ's copy is only scheduling state.
      defaultJobOptions: { attempts: 1, removeOnComplete: true, removeOnFail: { age: 24 * 3600, count: 10_000 } },
    });
  }

  async submit(ops: Opcode[]): Promise<number> {
    if (this.drained) throw new QueueUnavailable('Job queue is drained, cannot submit');
    const reserved = hasRelative(ops) ? await this.jobs.allocateId() : undefined;
    if (reserved !== undefined) ops = resolveRelative(ops, reserved);
    const id = await this.jobs.create(ops, ops.map(summary), reserved);
    try {
      await this.queue.add('job', { id }, { jobId: bullId(id) });
    } catch (err) {
      await this.jobs.transition(id, ['queued'], {
        opstatus: ops.map(() => 'error'),
        opresult: ops.map(() => ['OpExecError', [`Could not enqueue job: ${(err as Error).message}`]]),
        end_ts: timestamp(),
      });
      throw err;
    }
    return id;
  }

  /** Ganeti 3.0's cancel answers: [success, message]. */
  async cancel(id: number): Promise<[boolean, string]> {
    const rec = await this.jobs.get(id);
    if (!rec || FINALIZED.has(calcStatus(rec.opstatus))) return [false, `Job ${id} not found in queue`];
    const ok = await this.jobs.transition(id, ['queued', 'waiting'], {
      opstatus: rec.ops.map(() => 'canceled'),
      end_ts: timestamp(),
    });
    if (ok === 1) {
      // Best effort: an executor that already took it sees the canceled record.
      await this.queue.remove(bullId(id)).catch(() => undefined);
      return [true, `Dequeued job ${id}`];
    }
    return [false, "Job no longer waiting, can't cancel"];
  }

  /**
   * Fail unfinished records whose BullMQ entry failed (stalled: its process
   * died) or vanished. Records younger than `graceMs` may still be enqueueing.
   * The record is re-read after the queue state and only changed if it is
   * still exactly as read, so a job finishing meanwhile is never touched.
   */
  async reconcile(graceMs = 30_000): Promise<number> {
    let settled = 0;
    for (const id of await this.jobs.pendingIds()) {
      const state = await this.queue.getJobState(bullId(id));
      if (state !== 'failed' && state !== 'completed' && state !== 'unknown') continue;
      const rec = await this.jobs.get(id);
      if (!rec || FINALIZED.has(calcStatus(rec.opstatus))) continue;
      const age = Date.now() - (rec.received_ts ? rec.received_ts[0] * 1000 : 0);
      if (state === 'unknown' && age <= graceMs) continue;
      const opstatus = rec.opstatus.map((s) => (s === 'success' ? s : 'error'));
      const opresult = rec.opresult.map((r, j) => rec.opstatus[j] === 'success' ? r
        : ['OpExecError', ['Job was interrupted (its process died or its queue entry was lost); it was not restarted']]);
      if (await this.jobs.settleIfUnchanged(id, rec.opstatus, { opstatus, opresult, end_ts: timestamp() })) settled++;
    }
    return settled;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
