// A consistent, in-memory view of the configuration and the nodes' runtime
// reports. Every read resource is served from one of these, so reads never
// wait for a job or a lock.
import type { Cluster, Instance, Kind, KindMap, Network, Node, NodeGroup, NodeRuntime } from '../model.ts';

export interface Snapshot {
  /** Increases with every configuration change. */
  readonly serial: number;
  readonly cluster: Cluster;
  readonly nodes: ReadonlyMap<string, Node>;          // by uuid
  readonly groups: ReadonlyMap<string, NodeGroup>;    // by uuid
  readonly instances: ReadonlyMap<string, Instance>;  // by uuid
  readonly networks: ReadonlyMap<string, Network>;    // by uuid
  byName<K extends Exclude<Kind, 'cluster'>>(kind: K, name: string): KindMap[K] | undefined;
  /** Every object of a kind. */
  all<K extends Exclude<Kind, 'cluster'>>(kind: K): KindMap[K][];
  /** The node's last report, or undefined when its worker is not alive. */
  liveRuntime(nodeUuid: string): NodeRuntime | undefined;
}

export type { Cluster, Instance, Network, Node, NodeGroup, NodeRuntime };
