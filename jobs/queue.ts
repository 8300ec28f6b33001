// Submitting and cancelling jobs. The record is written before the BullMQ
// entry, and a reconciler settles records whose entry is gone (process
// killed, Redis lost the queue), so a job is never lost silently nor run twice.
import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUE_PREFIX, JOBS_QUEUE } from '../src/store/keys.ts';
import { QueueUnavailable } from './errors.ts';
import type { JobStore } from './store.ts';
import { calcStatus, timestamp, FINALIZED } from './status.ts';
import { summary, type Opcode } from './opcodes.ts';

const bullId = (id: number) => `job-${id}`;

export class JobQueue {
  readonly queue: Queue;
  /** Ganeti's "queue drained" flag: new submissions are refused. */
  drained = false;

  constructor(connection: ConnectionOptions, private jobs: JobStore) {
    this.queue = new Queue(JOBS_QUEUE, {
      connection, prefix: QUEUE_PREFIX,
      defaultJobOptions: { attempts: 1, removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 24 * 3600, count: 10_000 } },
    });
  }

  async submit(ops: Opcode[]): Promise<number> {
    if (this.drained) throw new QueueUnavailable('Job queue is drained, cannot submit');
    const id = await this.jobs.create(ops, ops.map(summary));
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
   */
  async reconcile(graceMs = 30_000): Promise<number> {
    const ids = await this.jobs.pendingIds();
    let settled = 0;
    const recs = await this.jobs.getMany(ids);
    for (const rec of recs) {
      if (!rec || FINALIZED.has(calcStatus(rec.opstatus))) continue;
      const age = Date.now() - (rec.received_ts ? rec.received_ts[0] * 1000 : 0);
      const state = await this.queue.getJobState(bullId(rec.id));
      if (state === 'failed' || state === 'completed' || (state === 'unknown' && age > graceMs)) {
        const opstatus = rec.opstatus.map((s) => (s === 'success' ? s : 'error'));
        const opresult = rec.opresult.map((r, j) => rec.opstatus[j] === 'success' ? r
          : ['OpExecError', ['Job was interrupted (its process died or its queue entry was lost); it was not restarted']]);
        if ((await this.jobs.transition(rec.id, ['queued', 'waiting', 'running', 'canceling', 'success'], { opstatus, opresult, end_ts: timestamp() })) === 1) settled++;
      }
    }
    return settled;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
