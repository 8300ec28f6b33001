// Instance policies: objects.InstancePolicy.CheckParameterSyntax,
// cmdlib.common.GetUpdatedIPolicy and CheckIpolicyVsDiskTemplates, with
// Ganeti's texts. The cluster's policy is checked with its std specs, a
// node group's (which has none of its own) without.
import { OpPrereqError } from './errors.ts';
import { ISPECS_PARAMETER_TYPES, VALUE_DEFAULT, forceDictType, requireDict, updatedParams } from './params.ts';
import { commaJoinSet, isDict, pyRepr, pyStr, pyTruthy, pyTypeName } from './py.ts';
import { DISK_TEMPLATES, fillIPolicy } from '../src/defaults.ts';
import type { Snapshot } from '../src/store/snapshot.ts';

type Policy = Record<string, unknown>;

export const ISPECS_PARAMETERS = Object.keys(ISPECS_PARAMETER_TYPES).sort();
export const ISPECS_MINMAX_KEYS = ['max', 'min'];
/** The policy's ratios (all floats). */
export const IPOLICY_PARAMETERS = ['spindle-ratio', 'vcpu-ratio'];
export const IPOLICY_ALL_KEYS = ['disk-templates', 'minmax', 'spindle-ratio', 'std', 'vcpu-ratio'];

/** objects.InstancePolicy.CheckParameterSyntax's ConfigurationError, which callers wrap. */
export class PolicyError extends Error {}

/** Python's float(): numbers, booleans and numeric strings. */
export function pyFloat(v: unknown): number {
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

/** Python's list(value): list items, string characters, dict keys. */
const pyList = (v: unknown): unknown[] =>
  Array.isArray(v) ? [...v] : typeof v === 'string' ? [...v] : isDict(v) ? Object.keys(v) : [v];

function checkIncompleteSpec(spec: unknown, keyname: string): void {
  const missing = ISPECS_PARAMETERS.filter((p) => !isDict(spec) || !(p in spec));
  if (missing.length) throw new PolicyError(`Missing instance specs parameters for ${keyname}: ${commaJoinSet(missing)}`);
}

/** InstancePolicy.CheckISpecSyntax: complete specs, min <= max and, with checkStd, min <= std <= max for one pair. */
function checkISpecSyntax(ipolicy: Policy, checkStd: boolean): void {
  if (!('minmax' in ipolicy)) return;
  if (checkStd && !('std' in ipolicy)) throw new PolicyError('Missing key in ipolicy: std');
  const std = (ipolicy.std ?? {}) as Policy;
  if (checkStd) checkIncompleteSpec(std, 'std');
  const minmax = ipolicy.minmax;
  if (!Array.isArray(minmax) || !minmax.length) throw new PolicyError('Empty minmax specifications');
  let stdIsGood = false;
  for (const specs of minmax) {
    const missing = ISPECS_MINMAX_KEYS.filter((k) => !isDict(specs) || !(k in specs));
    if (missing.length) throw new PolicyError(`Missing instance specification: ${commaJoinSet(missing)}`);
    for (const [key, spec] of Object.entries(specs as Policy)) checkIncompleteSpec(spec, key);
    const { min, max } = specs as { min: Policy; max: Policy };
    let specStdOk = true;
    for (const param of ISPECS_PARAMETERS) {
      const [lo, hi] = [min[param] as number, max[param] as number];
      if (lo > hi) throw new PolicyError(`Invalid specification of min/max values for ${param}: ${pyStr(lo)}/${pyStr(hi)}`);
      if (checkStd) {
        const s = (std[param] as number | undefined) ?? lo;
        specStdOk &&= s >= lo && s <= hi;
      }
    }
    stdIsGood ||= specStdOk;
  }
  if (!stdIsGood) throw new PolicyError('Invalid std specifications');
}

/** InstancePolicy.CheckParameterSyntax; throws PolicyError. */
export function checkIPolicySyntax(ipolicy: Policy, { checkStd }: { checkStd: boolean }): void {
  checkISpecSyntax(ipolicy, checkStd);
  if ('disk-templates' in ipolicy) {
    const dts = ipolicy['disk-templates'] as unknown[];
    if (!dts.length) throw new PolicyError('Instance policy must contain at least one disk template');
    const wrong = dts.filter((dt) => !(DISK_TEMPLATES as readonly unknown[]).includes(dt));
    if (wrong.length) throw new PolicyError(`Invalid disk template(s) ${commaJoinSet(wrong)}`);
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

/** CheckParameterSyntax as the LUs call it: a PolicyError becomes OpPrereqError("Invalid instance policy: …"). */
export function checkValidIPolicy(ipolicy: Policy, opts: { checkStd: boolean }): void {
  try {
    checkIPolicySyntax(ipolicy, opts);
  } catch (err) {
    if (err instanceof PolicyError) throw new OpPrereqError(`Invalid instance policy: ${err.message}`, 'wrong_input');
    throw err;
  }
}

/**
 * GetUpdatedIPolicy: the policy after a change. A group's policy may unset
 * keys ("default" or empty) but has no std specs; the cluster's is the reverse.
 */
export function updatedIPolicy(old: Policy, update: Policy, { groupPolicy }: { groupPolicy: boolean }): Policy {
  const ipolicy = structuredClone(old);
  for (const [key, value] of Object.entries(update)) {
    if (!IPOLICY_ALL_KEYS.includes(key)) throw new OpPrereqError(`Invalid key in new ipolicy: ${key}`, 'wrong_input');
    const unset = !pyTruthy(value) || value === VALUE_DEFAULT || (Array.isArray(value) && value.length === 1 && value[0] === VALUE_DEFAULT);
    if (unset) {
      if (!groupPolicy) throw new OpPrereqError(`Can't unset ipolicy attribute '${key}' on the cluster'`, 'wrong_input');
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
      if (groupPolicy) throw new OpPrereqError(`${key} cannot appear in group instance specs`, 'wrong_input');
      ipolicy[key] = forceDictType(updatedParams((old.std as Policy | undefined) ?? {}, value as Policy, { useDefault: false }), ISPECS_PARAMETER_TYPES);
    } else {
      ipolicy[key] = pyList(value);
    }
  }
  checkValidIPolicy(ipolicy, { checkStd: !groupPolicy });
  return ipolicy;
}

/** CheckIpolicyVsDiskTemplates: a policy may allow only enabled templates. */
export function checkIPolicyVsDiskTemplates(ipolicy: Policy, enabled: readonly string[]): void {
  const notEnabled = ((ipolicy['disk-templates'] as string[] | undefined) ?? []).filter((dt) => !enabled.includes(dt));
  if (notEnabled.length) {
    throw new OpPrereqError(`The following disk templates are allowed by the ipolicy, but not enabled on the cluster: ${commaJoinSet(notEnabled)}`, 'wrong_input');
  }
}

// ---------------------------------------------------------------------------
// Checking an instance against a policy (cmdlib.common ComputeIPolicy*Violation).

export interface InstanceSpec {
  'memory-size'?: number | null;
  'cpu-count'?: number | null;
  'disk-count': number;
  'disk-size': number[];
  'nic-count'?: number | null;
  'spindle-use'?: number | null;
}

/** masterd.instance.CalculateGroupIPolicy: the cluster policy filled with the group's own. */
export function groupIPolicy(cfg: Snapshot, groupUuid: string): Policy {
  return fillIPolicy(cfg.cluster.ipolicy, cfg.groups.get(groupUuid)?.ipolicy);
}

/** _ComputeMinMaxSpec: null, or "name value V is not in range [min, max]". */
function minMaxViolation(name: string, qualifier: string, minmax: { min: Policy; max: Policy }, value: number | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const max = (minmax.max[name] as number | undefined) ?? value;
  const min = (minmax.min[name] as number | undefined) ?? value;
  if (value > max || min > value) return `${qualifier ? `${name}/${qualifier}` : name} value ${value} is not in range [${min}, ${max}]`;
  return null;
}

/** ComputeIPolicySpecViolation: every way `spec` breaks `ipolicy` (the closest min/max pair counts). */
export function specViolations(ipolicy: Policy, spec: InstanceSpec, diskTypes: string[]): string[] {
  const tests: [string, string, number | null | undefined][] = [
    ['memory-size', '', spec['memory-size']], ['cpu-count', '', spec['cpu-count']],
    ['nic-count', '', spec['nic-count']], ['spindle-use', '', spec['spindle-use']],
    ...spec['disk-size'].map((d, i): [string, string, number] => ['disk-size', String(i), d]),
  ];
  const allowed = (ipolicy['disk-templates'] as string[] | undefined) ?? [];
  const out: string[] = [];
  if (spec['disk-count'] !== 0) tests.push(['disk-count', '', spec['disk-count']]);
  else if (!allowed.includes('diskless')) out.push(`Disk template diskless is not allowed (allowed templates ${commaJoinSet(allowed)})`);
  const forbidden = diskTypes.filter((dt) => !allowed.includes(dt));
  if (forbidden.length) out.push(`Disk template ${commaJoinSet(forbidden)} is not allowed (allowed templates: ${commaJoinSet(allowed)})`);
  let best: string[] | null = null;
  for (const minmax of (ipolicy.minmax as { min: Policy; max: Policy }[] | undefined) ?? []) {
    const errs = tests.map(([n, q, v]) => minMaxViolation(n, q, minmax, v)).filter((e): e is string => e !== null);
    if (best === null || errs.length < best.length) best = errs;
  }
  return [...out, ...(best ?? [])];
}
