// What a node worker needs to know to run an instance: the instance with its
// effective parameters. Sent with every node step, so workers keep no config.
import type { ConfigStore } from '../../src/store/config.ts';
import type { Instance, Network } from '../../src/model.ts';
import { drbdIds, isDrbd } from './drbd.ts';
import { filledBeParams, filledHvParams, filledNicParams, filledOsParams } from '../../src/fill.ts';

export interface InstanceSpec {
  name: string;
  uuid: string;
  /** OS scripts see these (backend.OSEnvironment). */
  ctime: number;
  mtime: number;
  primary_node: string;
  secondary_nodes: string[];
  hypervisor: string;
  os: string;
  osparams: Record<string, unknown>;
  hvparams: Record<string, unknown>;
  beparams: Record<string, unknown>;
  disk_template: string;
  disks: SpecDisk[];
  nics: { uuid: string; name: string | null; mac: string; ip: string | null; mode: unknown; link: unknown; vlan: unknown; netinfo: NetInfo | null }[];
  network_port: number | null;
}

export interface SpecDisk {
  uuid: string;
  index: number;
  name: string | null;
  size: number;
  mode: string;
  dev_type: string;
  logical_id: unknown;
  /** drbd: the replication (secondary) addresses of the logical_id's two nodes, in its order. */
  drbd?: { ips: [string, string] };
}

/** A NIC's network as the node sees it (the RPC layer's netinfo). */
type NetInfo = Pick<Network, 'name' | 'uuid' | 'tags' | 'network' | 'gateway' | 'network6' | 'gateway6' | 'mac_prefix'>;

export function instanceSpec(cfg: ConfigStore, inst: Instance): InstanceSpec {
  const cluster = cfg.cluster;
  const netinfo = (uuid: string | null): NetInfo | null => {
    const n = uuid ? cfg.networks.get(uuid) : undefined;
    return n ? { name: n.name, uuid: n.uuid, tags: n.tags, network: n.network, gateway: n.gateway, network6: n.network6, gateway6: n.gateway6, mac_prefix: n.mac_prefix } : null;
  };
  return {
    name: inst.name,
    uuid: inst.uuid,
    ctime: inst.ctime,
    mtime: inst.mtime,
    primary_node: inst.primary_node,
    secondary_nodes: inst.secondary_nodes,
    hypervisor: inst.hypervisor,
    os: inst.os,
    osparams: filledOsParams(cluster, inst.os, inst.osparams),
    hvparams: filledHvParams(cluster, inst),
    beparams: filledBeParams(cluster, inst),
    disk_template: inst.disk_template,
    disks: inst.disks.map((d, index) => {
      const disk: SpecDisk = { uuid: d.uuid, index, name: d.name, size: d.size, mode: d.mode, dev_type: d.dev_type, logical_id: d.logical_id };
      if (isDrbd(d)) disk.drbd = { ips: drbdIds(d).nodes.map((n) => cfg.nodes.get(n)?.secondary_ip ?? '') as [string, string] };
      return disk;
    }),
    nics: inst.nics.map((n) => {
      const p = filledNicParams(cluster, n);
      return { uuid: n.uuid, name: n.name, mac: n.mac, ip: n.ip, mode: p.mode, link: p.link, vlan: p.vlan, netinfo: netinfo(n.network) };
    }),
    network_port: inst.network_port,
  };
}
