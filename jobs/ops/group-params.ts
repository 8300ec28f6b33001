// How node group parameters are checked and merged (cmdlib/common.py
// GetUpdatedIPolicy with group_policy=True, MergeAndVerifyHvState/DiskState,
// utils.VerifyDictOptions), with Ganeti's texts. Pure functions over plain dicts.
import { OpPrereqError } from '../errors.ts';
import { HYPER_TYPES } from '../ht.ts';
import { checkIPolicyVsDiskTemplates, checkValidIPolicy, updatedIPolicy } from '../ipolicy.ts';
import {
  DISK_DT_TYPES, DSS_PARAMETER_TYPES, HVSTS_PARAMETER_TYPES, forceDictType, requireDict, updatedParams, type VType,
} from '../params.ts';
import { commaJoinSet, pyRepr, pyStr } from '../py.ts';
import { DISK_DT_DEFAULTS, DISK_TEMPLATES, fillIPolicy } from '../../src/defaults.ts';
import type { Cluster, Params } from '../../src/model.ts';

// test/networks-groups.test.ts takes pyRepr from here.
export { pyRepr };

const DS_VALID_TYPES = ['plain'];
const DISK_VALID_ACCESS_MODES = ['kernelspace', 'userspace'];

// ---------------------------------------------------------------------------
// Instance policies.

/** GetUpdatedIPolicy(old, new, group_policy=True): a group's custom policy after a change. */
export const updatedGroupIPolicy = (old: Params, update: Params): Params => updatedIPolicy(old, update, { groupPolicy: true });

/**
 * LUGroupAdd._CheckIpolicy / LUGroupSetParams._CheckIpolicy: the group's
 * policy over the cluster's must be valid and allow only enabled templates.
 */
export function checkGroupIPolicy(cluster: Cluster, custom: Params): void {
  const full = fillIPolicy(cluster.ipolicy, custom);
  checkValidIPolicy(full, { checkStd: false });
  checkIPolicyVsDiskTemplates(full, cluster.enabled_disk_templates);
}

// ---------------------------------------------------------------------------
// Disk parameters.

/** CheckDiskAccessModeValidity (Ganeti raises it without an error code). */
export function checkDiskAccessModes(diskparams: Record<string, Params>): void {
  for (const [dt, params] of Object.entries(diskparams)) {
    const access = (params as Params).access ?? 'kernelspace';
    if (!DISK_VALID_ACCESS_MODES.includes(access as string)) {
      throw new OpPrereqError(`Invalid value of '${dt}:access': '${pyStr(access)}' (expected one of ${DISK_VALID_ACCESS_MODES.join(', ')})`);
    }
  }
}

/** utils.VerifyDictOptions against Ganeti's disk parameter defaults, wrapped as LUGroupAdd, LUGroupSetParams and LUClusterSetParams do. */
export function verifyDiskParamKeys(diskparams: Record<string, Params>): void {
  const invalid: string[] = [];
  for (const [dt, params] of Object.entries(diskparams)) {
    const known = DISK_DT_DEFAULTS[dt];
    if (!known) { invalid.push(dt); continue; }
    for (const key of Object.keys(params)) if (!(key in known)) invalid.push(`${dt}/${key}`);
  }
  if (invalid.length) {
    // str() of the inner OpPrereqError: Python prints its args tuple.
    const inner = pyRepr([`Provided option keys not supported: ${invalid.join(', ')}`, 'wrong_input']).replace(/^\[(.*)\]$/, '($1)');
    throw new OpPrereqError(`While verify diskparams options: ${inner}`, 'wrong_input');
  }
}

/** LUGroupAdd: each template's dict type-checked, then only known keys. */
export function newGroupDiskParams(given: Record<string, Params>): Record<string, Params> {
  const out: Record<string, Params> = {};
  for (const dt of DISK_TEMPLATES) if (dt in given) out[dt] = forceDictType(given[dt], DISK_DT_TYPES);
  verifyDiskParamKeys(out);
  return out;
}

/** LUGroupSetParams: per-template updates merged over the group's own disk parameters. */
export function updatedGroupDiskParams(old: Record<string, Params>, update: Record<string, Params>): Record<string, Params> {
  const changed: Record<string, Params> = {};
  for (const dt of DISK_TEMPLATES) {
    if (dt in update) changed[dt] = forceDictType(updatedParams(old[dt] ?? {}, update[dt]), DISK_DT_TYPES);
  }
  const out = { ...structuredClone(old), ...changed };
  verifyDiskParamKeys(out);
  return out;
}

// ---------------------------------------------------------------------------
// Static hypervisor and disk state.

/** _UpdateAndVerifySubDict: each sub-dict updated and type-checked. */
function updateSubDicts(base: Record<string, Params>, updates: Params, types: Record<string, VType>): Record<string, Params> {
  const out = structuredClone(base);
  for (const [key, value] of Object.entries(updates)) out[key] = forceDictType(updatedParams(base[key] ?? {}, requireDict(value)), types);
  return out;
}

/** MergeAndVerifyHvState: null when nothing was given. */
export function mergeHvState(given: Params | null, current: Record<string, Params> | undefined): Record<string, Params> | null {
  if (!given || !Object.keys(given).length) return null;
  const invalid = Object.keys(given).filter((hv) => !HYPER_TYPES.includes(hv));
  if (invalid.length) throw new OpPrereqError(`Invalid hypervisor(s) in hypervisor state: ${commaJoinSet(invalid)}`, 'wrong_input');
  return updateSubDicts(current ?? {}, given, HVSTS_PARAMETER_TYPES);
}

/** MergeAndVerifyDiskState: only the storage types given are kept, as in Ganeti. */
export function mergeDiskState(given: Params | null, current: Record<string, Record<string, Params>> | undefined): Record<string, Record<string, Params>> | null {
  if (!given || !Object.keys(given).length) return null;
  const invalid = Object.keys(given).filter((t) => !DS_VALID_TYPES.includes(t));
  if (invalid.length) throw new OpPrereqError(`Invalid storage type(s) in disk state: ${commaJoinSet(invalid)}`, 'wrong_input');
  return Object.fromEntries(Object.entries(given).map(([key, value]) =>
    [key, updateSubDicts(current?.[key] ?? {}, requireDict(value), DSS_PARAMETER_TYPES)]));
}
