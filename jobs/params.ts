// Ganeti's typed parameter dicts (utils.ForceDictType, utils.ParseUnit): the
// coercions tools rely on, such as beparams {"memory": "1024"} or disk
// sizes "10G".
import { TypeEnforcementError } from './errors.ts';

export type VType = 'string' | 'maybe-string' | 'bool' | 'size' | 'int' | 'float';

export const BES_PARAMETER_TYPES: Record<string, VType> = {
  always_failover: 'bool', auto_balance: 'bool', maxmem: 'size', minmem: 'size', memory: 'size', spindle_use: 'int', vcpus: 'int',
};
export const IDISK_PARAMS_TYPES: Record<string, VType> = {
  access: 'string', adopt: 'string', dev_type: 'string', metavg: 'string', mode: 'string', name: 'maybe-string',
  provider: 'string', size: 'size', spindles: 'int', vg: 'string',
};
export const INIC_PARAMS_TYPES: Record<string, VType> = {
  bridge: 'maybe-string', ip: 'maybe-string', link: 'string', mac: 'string', mode: 'string', name: 'maybe-string',
  network: 'maybe-string', vlan: 'maybe-string',
};

const pyStr = (v: unknown) => (v === null ? 'None' : v === true ? 'True' : v === false ? 'False' : typeof v === 'string' ? v : JSON.stringify(v));

export function parseUnit(input: unknown): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(String(input));
  if (typeof input !== 'number' && !m) throw new TypeEnforcementError(`Invalid format`);
  let value = typeof input === 'number' ? input : Number(m![1]);
  const unit = typeof input === 'number' ? 'm' : (m![2] || 'm').toLowerCase();
  if (['m', 'mb', 'mib'].includes(unit)) { /* already MiB */ }
  else if (['g', 'gb', 'gib'].includes(unit)) value *= 1024;
  else if (['t', 'tb', 'tib'].includes(unit)) value *= 1024 * 1024;
  else throw new TypeEnforcementError(`Unknown unit: ${m![2]}`);
  value = Math.ceil(value);
  if (value % 4) value += 4 - (value % 4);
  return value;
}

/** Returns a coerced copy; throws TypeEnforcementError with Ganeti's texts. */
export function forceDictType(target: unknown, types: Record<string, VType>): Record<string, unknown> {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    throw new TypeEnforcementError(`Expected dictionary, got '${pyStr(target)}'`);
  }
  const out: Record<string, unknown> = { ...(target as Record<string, unknown>) };
  for (const [key, v] of Object.entries(out)) {
    const t = types[key];
    if (!t) throw new TypeEnforcementError(`Unknown parameter '${key}'`);
    switch (t) {
      case 'string':
      case 'maybe-string':
        if (v === null && t === 'maybe-string') break;
        if (typeof v !== 'string') {
          if (v === false) out[key] = '';
          else throw new TypeEnforcementError(`'${key}' (value ${pyStr(v)}) is not a valid string`);
        }
        break;
      case 'bool':
        if (typeof v === 'string' && v) {
          if (v.toLowerCase() === 'false') out[key] = false;
          else if (v.toLowerCase() === 'true') out[key] = true;
          else throw new TypeEnforcementError(`'${key}' (value ${v}) is not a valid boolean`);
        } else out[key] = Boolean(v);
        break;
      case 'size':
        try {
          out[key] = parseUnit(v);
        } catch (err) {
          throw new TypeEnforcementError(`'${key}' (value ${pyStr(v)}) is not a valid size. error: ${(err as Error).message}`);
        }
        break;
      case 'int': {
        const n = typeof v === 'number' ? Math.trunc(v) : typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : NaN;
        if (!Number.isFinite(n)) throw new TypeEnforcementError(`'${key}' (value ${pyStr(v)}) is not a valid integer`);
        out[key] = n;
        break;
      }
      case 'float': {
        const n = Number(v);
        if (v === null || v === '' || !Number.isFinite(n)) throw new TypeEnforcementError(`'${key}' (value ${pyStr(v)}) is not a valid float`);
        out[key] = n;
        break;
      }
    }
  }
  return out;
}

/** objects.UpgradeBeParams: legacy `memory` sets both maxmem and minmem. */
export function upgradeBeParams(be: Record<string, unknown>): Record<string, unknown> {
  if (!('memory' in be)) return be;
  const { memory, ...rest } = be;
  return { ...rest, maxmem: memory, minmem: memory };
}
