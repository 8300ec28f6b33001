// What resource handlers may use: the read snapshot, the job store and queue.
import type { ConfigStore } from '../src/store/config.ts';
import type { Settings } from '../src/settings.ts';
import type { JobStore } from '../jobs/store.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { JobWatch } from '../jobs/watch.ts';
import type { Opcode } from '../jobs/opcodes.ts';
import type { FilterRules } from '../jobs/filters.ts';
import type { NodeCall } from '../jobs/node-rpc.ts';

export interface Services {
  cfg: ConfigStore;
  jobs: JobStore;
  queue: JobQueue;
  watch: JobWatch;
  filters: FilterRules;
  settings: Settings;
  rapidVersion: string;
  submit(ops: Opcode[]): Promise<number>;
  /** OS definitions available on every vm-capable node that answers. */
  osList(): Promise<{ name: string; variants: string[] }[]>;
  /** A read-only step on a node's worker (reads that need the node, not a job). */
  node: NodeCall;
  /** The exports a node holds (asked of its worker). */
  exportList(nodeName: string): Promise<string[]>;
}
