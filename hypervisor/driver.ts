// What a hypervisor driver does on its node. Drivers know nothing of queues,
// HTTP or the cluster configuration: they get an instance spec and act.
import type { InstanceRuntime } from '../src/model.ts';

export interface InstanceSpecLike {
  name: string;
  hypervisor: string;
  hvparams: Record<string, unknown>;
  beparams: Record<string, unknown>;
  disks: { uuid: string; index: number; size: number; mode: string; logical_id: unknown }[];
  nics: { mac: string; ip: string | null; mode: unknown; link: unknown }[];
}

export interface HostInfo {
  mtotal: number;
  mnode: number;
  mfree: number;
  ctotal: number;
  cnos: number;
  cnodes: number;
  csockets: number;
}

export interface HypervisorDriver {
  readonly name: string;
  /** Instances this driver runs on the node, by name. */
  list(): Promise<Record<string, InstanceRuntime>>;
  start(spec: InstanceSpecLike, opts: { paused: boolean; diskPaths: string[] }): Promise<void>;
  /** Stop within `timeout` seconds, forcibly after that. Stopping a stopped instance is not an error. */
  stop(name: string, timeout: number): Promise<void>;
  reboot(spec: InstanceSpecLike, type: 'soft' | 'hard', timeout: number, diskPaths: string[]): Promise<void>;
  /** Memory the node has left for instances, after what this driver's instances use. */
  hostInfo(): Promise<HostInfo>;
}

export class HypervisorFailure extends Error {}
