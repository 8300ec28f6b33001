// Ganeti's `drbd` disk template in rapid's configuration. A disk's
// logical_id is Ganeti's: [node A uuid, node B uuid, port, minor on A,
// minor on B, shared secret]; which of A and B is primary follows the
// instance's primary_node, so a failover changes no disk. Nodes carry the
// replicas with qemu-storage-daemon (hypervisor/replication.ts): the port
// is where both listen, the minors number the devices as DRBD would.
import { randomBytes } from 'node:crypto';
import { OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Disk, Instance } from '../../src/model.ts';

export const DRBD = 'drbd';
/** constants.FIRST_DRBD_PORT / LAST_DRBD_PORT: the cluster's tcpudp port pool. */
export const FIRST_DRBD_PORT = 11000;
export const LAST_DRBD_PORT = 14999;

export interface DrbdIds {
  nodes: [string, string];
  port: number;
  minors: [number, number];
  secret: string;
}

export const isDrbd = (d: Pick<Disk, 'dev_type'>): boolean => d.dev_type === DRBD;

export function drbdIds(d: Pick<Disk, 'logical_id'>): DrbdIds {
  const [a, b, port, ma, mb, secret] = d.logical_id as [string, string, number, number, number, string];
  return { nodes: [a, b], port, minors: [ma, mb], secret };
}

/** The nodes holding a disk's data: both of a drbd pair, else the instance's primary. */
export function diskNodes(inst: Pick<Instance, 'primary_node'>, d: Disk): string[] {
  return isDrbd(d) ? drbdIds(d).nodes : [inst.primary_node];
}

/** The instance's nodes other than the primary that hold some disk (Ganeti's secondary_nodes). */
export function secondariesOf(inst: Pick<Instance, 'primary_node'>, disks: Disk[]): string[] {
  return [...new Set(disks.flatMap((d) => diskNodes(inst, d)))].filter((n) => n !== inst.primary_node);
}

/**
 * ConfigWriter.AllocatePort + AllocateDRBDMinor for `count` new disks between
 * two nodes: the lowest free ports of the pool (VNC ports of instances count
 * as used) and the lowest free minor on each node.
 */
export function allocateDrbd(cfg: ConfigStore, pnode: string, snode: string, count: number, taken: Disk[] = []): Omit<DrbdIds, 'nodes'>[] {
  const ports = new Set<number>();
  const minors = new Map<string, Set<number>>([[pnode, new Set()], [snode, new Set()]]);
  const disks = [...[...cfg.instances.values()].flatMap((i) => i.disks), ...taken].filter(isDrbd);
  for (const d of disks) {
    const ids = drbdIds(d);
    ports.add(ids.port);
    ids.nodes.forEach((n, k) => minors.get(n)?.add(ids.minors[k]));
  }
  for (const i of cfg.instances.values()) if (i.network_port) ports.add(i.network_port);
  const lowest = (used: Set<number>, from: number) => { let n = from; while (used.has(n)) n++; used.add(n); return n; };
  return Array.from({ length: count }, () => {
    const port = lowest(ports, FIRST_DRBD_PORT);
    if (port > LAST_DRBD_PORT) throw new OpPrereqError('The free port pool is empty, cannot allocate a DRBD port', 'insufficient_resources');
    return { port, minors: [lowest(minors.get(pnode)!, 0), lowest(minors.get(snode)!, 0)] as [number, number], secret: randomBytes(20).toString('hex') };
  });
}

/** GenerateDiskTemplate's logical_id for one new drbd disk. */
export function drbdLogicalId(pnode: string, snode: string, a: Omit<DrbdIds, 'nodes'>): unknown[] {
  return [pnode, snode, a.port, a.minors[0], a.minors[1], a.secret];
}
