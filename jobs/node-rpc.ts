// Node-level steps travel to the node's worker through its own BullMQ queue
// (one queue per node, consumed by that node's worker process).
import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { QUEUE_PREFIX, nodeQueue } from '../src/store/keys.ts';
import { OpExecError, OpPrereqError } from './errors.ts';
import type { NodeRuntime } from '../src/model.ts';

/** The steps a node worker carries out; the contract between jobs/ and workers. */
export const STEP = {
  instanceStart: 'instance.start',
  instanceStop: 'instance.stop',
  instanceReboot: 'instance.reboot',
  instanceInfo: 'instance.info',
  consoleOutput: 'instance.console_output',
  consoleClear: 'instance.console_clear',
  disksCreate: 'disks.create',
  disksRemove: 'disks.remove',
  instanceBalloon: 'instance.balloon',
  migrationInfo: 'migration.info',
  migrationAccept: 'migration.accept',
  migrationStart: 'migration.start',
  migrationStatus: 'migration.status',
  migrationFinalizeDst: 'migration.finalize_dst',
  migrationFinalizeSrc: 'migration.finalize_src',
  hotplugSupported: 'instance.hotplug_supported',
  hotplug: 'instance.hotplug',
  disksAssemble: 'disks.assemble',
  disksShutdown: 'disks.shutdown',
  disksMirrorStatus: 'disks.mirror_status',
  disksOpen: 'disks.open',
  disksClose: 'disks.close',
  disksGrow: 'disks.grow',
  disksRenameDir: 'disks.rename_dir',
  disksConvert: 'disks.convert',
  exportReceive: 'export.receive',
  exportSend: 'export.send',
  exportFinalize: 'export.finalize',
  exportList: 'export.list',
  exportRemove: 'export.remove',
  osInstall: 'os.install',
  osDiagnose: 'os.diagnose',
  osRename: 'os.rename',
  osValidate: 'os.validate',
  delay: 'test.delay',
  storageList: 'storage.list',
  powercycle: 'node.powercycle',
  hasIpAddress: 'node.has_ip_address',
} as const;
export type Step = (typeof STEP)[keyof typeof STEP];

export interface NodeStepResult {
  result: unknown;
  /** The node's state right after the step, applied before the job reports. */
  runtime?: NodeRuntime;
}

export type NodeCall = (nodeName: string, method: string, args: Record<string, unknown>, timeoutMs?: number) => Promise<unknown>;

/** The node's worker did not take or finish the step in time (it may have died without missing its heartbeat yet). */
export class NodeNoAnswerError extends OpExecError {}

/** Worker-side failures come back as BullMQ failures with this prefix. */
export const STEP_ERROR_PREFIX = 'rapid-step-error:';

export class NodeRpc {
  private queues = new Map<string, { queue: Queue; events: QueueEvents; ready: Promise<unknown> }>();

  constructor(private connection: ConnectionOptions, private onRuntime: (rt: NodeRuntime) => void) {}

  private get(node: string) {
    let q = this.queues.get(node);
    if (!q) {
      const queue = new Queue(nodeQueue(node), { connection: this.connection, prefix: QUEUE_PREFIX });
      const events = new QueueEvents(nodeQueue(node), { connection: this.connection, prefix: QUEUE_PREFIX });
      q = { queue, events, ready: events.waitUntilReady() };
      this.queues.set(node, q);
    }
    return q;
  }

  call: NodeCall = async (node, method, args, timeoutMs = 300_000) => {
    const q = this.get(node);
    await q.ready;
    const job = await q.queue.add(method, args, { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 }, attempts: 1 });
    let out: NodeStepResult;
    try {
      out = (await job.waitUntilFinished(q.events, timeoutMs)) as NodeStepResult;
    } catch (err) {
      const msg = (err as Error).message ?? String(err);
      await job.remove().catch(() => undefined);
      if (msg.startsWith(STEP_ERROR_PREFIX)) {
        const [cls, text, ecode] = JSON.parse(msg.slice(STEP_ERROR_PREFIX.length)) as [string, string, string?];
        throw cls === 'OpPrereqError' ? new OpPrereqError(text, ecode as never) : new OpExecError(text);
      }
      if (/timed out/i.test(msg)) throw new NodeNoAnswerError(`Node ${node} did not answer ${method} within ${timeoutMs / 1000}s`);
      throw new OpExecError(`Node ${node}: ${method} failed: ${msg}`);
    }
    if (out?.runtime) this.onRuntime(out.runtime);
    return out?.result;
  };

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map(async (q) => {
      await q.events.close();
      await q.queue.close();
    }));
  }
}
