// What a hypervisor driver does on its node. Drivers know nothing of queues,
// HTTP or the cluster configuration: they get an instance spec and act.
import type { InstanceRuntime } from '../src/model.ts';

export interface InstanceSpecLike {
  name: string;
  hypervisor: string;
  hvparams: Record<string, unknown>;
  beparams: Record<string, unknown>;
  disks: { uuid: string; index: number; size: number; mode: string; logical_id: unknown }[];
  nics: { uuid?: string; mac: string; ip: string | null; mode: unknown; link: unknown }[];
  /** KVM: -uuid, device ids (from disk and NIC uuids), VNC display, disk cache mode. */
  uuid?: string;
  network_port?: number | null;
  disk_template?: string;
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
  /** Set a running guest's memory (Ganeti's BalloonInstanceMemory). */
  balloon(spec: InstanceSpecLike, memory: number): Promise<void>;

  // Live migration in Ganeti's steps (hv_base): the source describes the
  // guest, the target gets ready for it, the source sends it and reports
  // progress, then each side finishes (or rolls back when success is false).
  migrationInfo(spec: InstanceSpecLike): Promise<unknown>;
  /** `diskMoves`: [source path, this node's path] of disks reached differently here (replicas). */
  acceptInstance(spec: InstanceSpecLike, info: unknown, targetIp: string, diskMoves?: [string, string][]): Promise<void>;
  migrateInstance(spec: InstanceSpecLike, targetIp: string, live: boolean): Promise<void>;
  migrationStatus(spec: InstanceSpecLike): Promise<MigrationStatus>;
  finalizeMigrationDst(spec: InstanceSpecLike, info: unknown, success: boolean): Promise<void>;
  finalizeMigrationSource(spec: InstanceSpecLike, success: boolean, live: boolean): Promise<void>;

  /** A running guest's disk file grew: let the guest see the new size now (Ganeti waits for a restart). */
  diskGrown?(name: string, diskPath: string, bytes: number): Promise<void>;
  /** The guest's recent console output, newest last (`length` -1: all that is kept); drivers without one have none. */
  consoleOutput?(name: string, length: number): Promise<Buffer>;
  /** Forgets the kept console output. */
  clearConsoleOutput?(name: string): Promise<void>;

  /** Only drivers that can change a running guest's devices have this (Ganeti: KVM). */
  hotplug?(spec: InstanceSpecLike, action: HotplugAction, target: 'disk' | 'nic', device: unknown, seq: number): Promise<void>;
}

export type HotplugAction = 'hotadd' | 'hotmod' | 'hotremove';

/** objects.MigrationStatus: `status` is one of Ganeti's HV_MIGRATION_* words. */
export interface MigrationStatus {
  status: 'active' | 'completed' | 'failed' | 'cancelled' | 'setup' | 'postcopy-active';
  transferred_ram?: number;
  total_ram?: number;
}

export class HypervisorFailure extends Error {}
