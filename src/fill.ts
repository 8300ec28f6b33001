// Effective parameters of an instance: cluster defaults overridden by OS and
// instance values (objects.Cluster.FillHV/FillBE/SimpleFillNIC).
import { fillDict } from './defaults.ts';
import type { Cluster, Instance, Nic, Params } from './model.ts';

/**
 * FillHV(skip_globals=False), what nodes and migration get: cluster-only
 * parameters (HVC_GLOBALS, e.g. migration_port) stay in; an instance never has its own.
 */
export function filledHvParams(cluster: Cluster, inst: Pick<Instance, 'hypervisor' | 'os' | 'hvparams'>): Params {
  const base = fillDict(cluster.hvparams[inst.hypervisor], cluster.os_hvp[inst.os]?.[inst.hypervisor]);
  return fillDict(base, inst.hvparams);
}

export function filledBeParams(cluster: Cluster, inst: Pick<Instance, 'beparams'>): Params {
  return fillDict(cluster.beparams.default, inst.beparams);
}

export function filledNicParams(cluster: Cluster, nic: Pick<Nic, 'nicparams'>): Params {
  return fillDict(cluster.nicparams.default, nic.nicparams);
}

/** SimpleFillOS: the OS's cluster defaults, then its variant's ("name+variant"), then `params`. */
export function filledOsParams(cluster: Cluster, os: string, params: Params): Params {
  return fillDict(fillDict(cluster.osparams[os.split('+')[0]!], cluster.osparams[os]), params);
}
