// What a node worker needs to know to run an instance: the instance with its
// effective parameters. Sent with every node step, so workers keep no config.
import type { ConfigStore } from '../../src/store/config.ts';
import type { Instance } from '../../src/model.ts';
import { filledBeParams, filledHvParams, filledNicParams } from '../../src/fill.ts';

export interface InstanceSpec {
  name: string;
  uuid: string;
  hypervisor: string;
  os: string;
  osparams: Record<string, unknown>;
  hvparams: Record<string, unknown>;
  beparams: Record<string, unknown>;
  disk_template: string;
  disks: { uuid: string; index: number; size: number; mode: string; logical_id: unknown }[];
  nics: { uuid: string; mac: string; ip: string | null; mode: unknown; link: unknown; vlan: unknown }[];
  network_port: number | null;
}

export function instanceSpec(cfg: ConfigStore, inst: Instance): InstanceSpec {
  const cluster = cfg.cluster;
  return {
    name: inst.name,
    uuid: inst.uuid,
    hypervisor: inst.hypervisor,
    os: inst.os,
    osparams: { ...cluster.osparams[inst.os.split('+')[0]], ...inst.osparams },
    hvparams: filledHvParams(cluster, inst),
    beparams: filledBeParams(cluster, inst),
    disk_template: inst.disk_template,
    disks: inst.disks.map((d, index) => ({ uuid: d.uuid, index, size: d.size, mode: d.mode, logical_id: d.logical_id })),
    nics: inst.nics.map((n) => {
      const p = filledNicParams(cluster, n);
      return { uuid: n.uuid, mac: n.mac, ip: n.ip, mode: p.mode, link: p.link, vlan: p.vlan };
    }),
    network_port: inst.network_port,
  };
}
