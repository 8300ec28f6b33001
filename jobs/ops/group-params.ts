// How node group parameters are checked and merged (cmdlib/common.py
// GetUpdatedParams, GetUpdatedIPolicy, MergeAndVerifyHvState/DiskState,
// objects.InstancePolicy.CheckParameterSyntax, utils.VerifyDictOptions),
// with Ganeti's texts. Pure functions over plain dicts.
import { OpPrereqError, TypeEnforcementError } from '../errors.ts';
import { forceDictType, type VType } from '../params.ts';
import { DISK_DT_DEFAULTS, DISK_TEMPLATES, fillIPolicy } from '../../src/defaults.ts';
import type { Cluster, Params } from '../../src/model.ts';

export const NDS_PARAMETER_TYPES: Record<string, VType> = {
  cpu_speed: 'float', exclusive_storage: 'bool', oob_program: 'string', ovs: 'bool', ovs_link: 'maybe-string',
  ovs_name: 'maybe-string', spindle_count: 'int', ssh_port: 'int',
};
export const DISK_DT_TYPES: Record<string, VType> = {
  access: 'string', 'c-delay-target': 'int', 'c-fill-target': 'int', 'c-max-rate': 'int', 'c-min-rate': 'int',
  'c-plan-ahead': 'int', 'data-stripes': 'int', 'disk-barriers': 'string', 'disk-custom': 'string',
  'dynamic-resync': 'bool', host: 'string', 'meta-barriers': 'bool', 'meta-stripes': 'int', metavg: 'string',
  'net-custom': 'string', pool: 'string', port: 'int', protocol: 'string', 'resync-rate': 'int', stripes: 'int',
  volume: 'string',
};
const ISPECS_PARAMETER_TYPES: Record<string, VType> = {
  'cpu-count': 'int', 'disk-count': 'int', 'disk-size': 'int', 'memory-size': 'int', 'nic-count': 'int', 'spindle-use': 'int',
};
const HVSTS_PARAMETER_TYPES: Record<string, VType> = {
  cpu_node: 'int', cpu_total: 'int', mem_hv: 'int', mem_node: 'int', mem_total: 'int',
};
const DSS_PARAMETER_TYPES: Record<string, VType> = { disk_overhead: 'int', disk_reserved: 'int', disk_total: 'int' };
const HYPER_TYPES = ['chroot', 'fake', 'kvm', 'lxc', 'xen-hvm', 'xen-pvm'];
const DS_VALID_TYPES = ['plain'];
const DISK_VALID_ACCESS_MODES = ['kernelspace', 'userspace'];
const IPOLICY_PARAMETERS = ['spindle-ratio', 'vcpu-ratio'];
const IPOLICY_ALL_KEYS = ['disk-templates', 'minmax', 'spindle-ratio', 'std', 'vcpu-ratio'];
const ISPECS_MINMAX_KEYS = ['max', 'min'];
const VALUE_DEFAULT = 'default';

const isDict = (v: unknown): v is Params => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Ganeti joins Python sets, whose order is arbitrary; sorted is one valid order. */
const commaJoinSet = (items: Iterable<string>): string => [...new Set(items)].sort().join(', ');

function requireDict(v: unknown): Params {
  if (!isDict(v)) throw new TypeEnforcementError(`Expected dictionary, got '${pyRepr(v)}'`);
  return v;
}

/** GetUpdatedParams: "default" (and with useNone, null) removes a key. */
export function updatedParams(old: Params, update: Params, opts: { useDefault?: boolean; useNone?: boolean } = {}): Params {
  const { useDefault = true, useNone = false } = opts;
  const out = structuredClone(old);
  for (const [key, val] of Object.entries(requireDict(update))) {
    if ((useDefault && val === VALUE_DEFAULT) || (useNone && val === null)) delete out[key];
    else out[key] = val;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Instance policies.

/** objects.InstancePolicy.CheckParameterSyntax's ConfigurationError. */
class PolicyError extends Error {}

/** Python's float(): numbers, booleans and numeric strings. */
function pyFloat(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const t = v.trim();
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
    if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/i.test(t)) return NaN;
    throw new PolicyError(`could not convert string to float: ${pyRepr(v)}`);
  }
  throw new PolicyError(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`);
}

function checkIncompleteSpec(spec: unknown, keyname: string): void {
  const have = isDict(spec) ? Object.keys(spec) : [];
  const missing = Object.keys(ISPECS_PARAMETER_TYPES).filter((p) => !have.includes(p));
  if (missing.length) throw new PolicyError(`Missing instance specs parameters for ${keyname}: ${commaJoinSet(missing)}`);
}

/** InstancePolicy.CheckParameterSyntax without the std check (group policies never have one). */
function checkIPolicySyntax(ipolicy: Params): void {
  if ('minmax' in ipolicy) {
    const minmax = ipolicy.minmax;
    if (!Array.isArray(minmax) || !minmax.length) throw new PolicyError('Empty minmax specifications');
    for (const specs of minmax) {
      const keys = isDict(specs) ? Object.keys(specs) : [];
      const missing = ISPECS_MINMAX_KEYS.filter((k) => !keys.includes(k));
      if (missing.length) throw new PolicyError(`Missing instance specification: ${commaJoinSet(missing)}`);
      for (const [key, spec] of Object.entries(specs as Params)) checkIncompleteSpec(spec, key);
      const { min, max } = specs as { min: Params; max: Params };
      for (const param of Object.keys(ISPECS_PARAMETER_TYPES).sort()) {
        if ((min[param] as number) > (max[param] as number)) {
          throw new PolicyError(`Invalid specification of min/max values for ${param}: ${pyStr(min[param])}/${pyStr(max[param])}`);
        }
      }
    }
  }
  if ('disk-templates' in ipolicy) {
    const dts = ipolicy['disk-templates'] as unknown[];
    if (!dts.length) throw new PolicyError('Instance policy must contain at least one disk template');
    const wrong = dts.filter((dt) => !(DISK_TEMPLATES as readonly unknown[]).includes(dt));
    if (wrong.length) throw new PolicyError(`Invalid disk template(s) ${commaJoinSet(wrong.map(String))}`);
  }
  for (const key of IPOLICY_PARAMETERS) {
    if (!(key in ipolicy)) continue;
    try {
      pyFloat(ipolicy[key]);
    } catch (err) {
      throw new PolicyError(`Invalid value for key '${key}': '${pyStr(ipolicy[key])}', error: ${(err as Error).message}`);
    }
  }
  const wrongKeys = Object.keys(ipolicy).filter((k) => !IPOLICY_ALL_KEYS.includes(k));
  if (wrongKeys.length) throw new PolicyError(`Invalid keys in ipolicy: ${commaJoinSet(wrongKeys)}`);
}

function invalidPolicy(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyError) throw new OpPrereqError(`Invalid instance policy: ${err.message}`, 'wrong_input');
    throw err;
  }
}

/** Python's list(value): list items, string characters, dict keys. */
const pyList = (v: unknown): unknown[] =>
  Array.isArray(v) ? [...v] : typeof v === 'string' ? [...v] : isDict(v) ? Object.keys(v) : [v];

/** GetUpdatedIPolicy(old, new, group_policy=True): a group's custom policy after a change. */
export function updatedGroupIPolicy(old: Params, update: Params): Params {
  const ipolicy = structuredClone(old);
  for (const [key, value] of Object.entries(update)) {
    if (!IPOLICY_ALL_KEYS.includes(key)) throw new OpPrereqError(`Invalid key in new ipolicy: ${key}`, 'wrong_input');
    const unset = !pyTruthy(value) || value === VALUE_DEFAULT || (Array.isArray(value) && value.length === 1 && value[0] === VALUE_DEFAULT);
    if (unset) {
      delete ipolicy[key];
    } else if (IPOLICY_PARAMETERS.includes(key)) {
      try {
        ipolicy[key] = pyFloat(value);
      } catch (err) {
        throw new OpPrereqError(`Invalid value for attribute '${key}': '${pyStr(value)}', error: ${(err as Error).message}`, 'wrong_input');
      }
    } else if (key === 'minmax') {
      ipolicy[key] = pyList(value).map((minmax) =>
        Object.fromEntries(Object.entries(requireDict(minmax)).map(([k, spec]) => [k, forceDictType(spec, ISPECS_PARAMETER_TYPES)])));
    } else if (key === 'std') {
      throw new OpPrereqError(`${key} cannot appear in group instance specs`, 'wrong_input');
    } else {
      ipolicy[key] = pyList(value);
    }
  }
  invalidPolicy(() => checkIPolicySyntax(ipolicy));
  return ipolicy;
}

/**
 * LUGroupAdd._CheckIpolicy / LUGroupSetParams._CheckIpolicy: the group's
 * policy over the cluster's must be valid and allow only enabled templates.
 */
export function checkGroupIPolicy(cluster: Cluster, custom: Params): void {
  const full = fillIPolicy(cluster.ipolicy, custom);
  invalidPolicy(() => checkIPolicySyntax(full));
  const notEnabled = (full['disk-templates'] as string[]).filter((dt) => !cluster.enabled_disk_templates.includes(dt));
  if (notEnabled.length) {
    throw new OpPrereqError(`The following disk templates are allowed by the ipolicy, but not enabled on the cluster: ${commaJoinSet(notEnabled)}`, 'wrong_input');
  }
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

/** utils.VerifyDictOptions against Ganeti's disk parameter defaults, wrapped as the group LUs do. */
function verifyDiskParamKeys(diskparams: Record<string, Params>): void {
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

// ---------------------------------------------------------------------------
// Python's text forms, for results and messages that Ganeti builds with str().

function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return typeof v === 'string' ? 'str' : 'dict';
}

function pyTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return Boolean(v);
}

function pyStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}

function pyNumber(n: number, float: boolean): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  return float && Number.isInteger(n) ? `${n}.0` : String(n);
}

/**
 * Python's repr(); numbers under a key typed 'float' in `types` print as
 * floats (JSON cannot tell 1.0 from 1, Ganeti's coerced values can).
 */
export function pyRepr(v: unknown, types: Record<string, VType> = {}, key?: string): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return pyNumber(v, key !== undefined && types[key] === 'float');
  if (typeof v === 'string') return pyStrRepr(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x, types)).join(', ')}]`;
  return `{${Object.entries(v as Params).map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x, types, k)}`).join(', ')}}`;
}

/** Python's str(): strings bare, everything else as repr(). */
export const pyStr = (v: unknown): string => (typeof v === 'string' ? v : pyRepr(v));
