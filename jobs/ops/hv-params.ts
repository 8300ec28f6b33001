// Hypervisor parameters (hypervisor.GetHypervisorClass,
// hv_base.CheckParameterSyntax) as the cluster and instance LUs check them.
// rapid's hypervisors are those it has defaults for.
import { HypervisorError } from '../errors.ts';
import { HT_MIGRATION_MODES } from '../ht.ts';
import { HVS_PARAMETER_TYPES, forceDictType } from '../params.ts';
import { pyStr } from '../py.ts';
import { HVC_DEFAULTS } from '../../src/defaults.ts';
import type { Params } from '../../src/model.ts';

/** hypervisor.GetHypervisorClass. */
export function knownHypervisor(hv: string): void {
  if (!(hv in HVC_DEFAULTS)) throw new HypervisorError(`Unknown hypervisor type '${hv}'`);
}

/** ForceDictType(HVS_PARAMETER_TYPES), then hv_base.CheckParameterSyntax's generic checks; returns the typed parameters. */
export function checkHvParams(hv: string, params: Params): Params {
  knownHypervisor(hv);
  const typed = forceDictType(params, HVS_PARAMETER_TYPES);
  const supported = Object.keys(HVC_DEFAULTS[hv]);
  for (const key of Object.keys(typed)) if (!supported.includes(key)) throw new HypervisorError(`Parameter '${key}' is not supported`);
  for (const key of supported) if (!(key in typed)) throw new HypervisorError(`Parameter '${key}' is missing`);
  const mode = typed.migration_mode;
  if (supported.includes('migration_mode') && !HT_MIGRATION_MODES.includes(mode as string)) {
    if (!mode) throw new HypervisorError("Parameter 'migration_mode' is required but is currently not defined");
    throw new HypervisorError(`Parameter 'migration_mode' fails syntax check: invalid migration mode (current value: '${pyStr(mode)}')`);
  }
  return typed;
}
