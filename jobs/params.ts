// Ganeti's typed parameter dicts: the type tables of _constants.py, the
// coercions tools rely on (utils.ForceDictType, utils.ParseUnit: beparams
// {"memory": "1024"}, disk sizes "10G"), how updates merge into them
// (GetUpdatedParams) and the NIC parameters' syntax check.
import { ConfigurationError, TypeEnforcementError } from './errors.ts';
import { NIC_VALID_MODES } from './ht.ts';
import { isDict, pyRepr, pyStr } from './py.ts';

export type VType = 'string' | 'maybe-string' | 'bool' | 'size' | 'int' | 'float';

/** constants.VALUE_DEFAULT and VALUE_AUTO. */
export const VALUE_DEFAULT = 'default';
export const VALUE_AUTO = 'auto';

// Ganeti's _constants.py type tables, one home each.
export const BES_PARAMETER_TYPES: Record<string, VType> = {
  always_failover: 'bool', auto_balance: 'bool', maxmem: 'size', minmem: 'size', memory: 'size', spindle_use: 'int', vcpus: 'int',
};
export const IDISK_PARAMS_TYPES: Record<string, VType> = {
  access: 'string', adopt: 'string', dev_type: 'string', metavg: 'string', mode: 'string', name: 'maybe-string',
  provider: 'string', size: 'size', spindles: 'int', vg: 'string',
};
export const MODIFIABLE_IDISK_PARAMS_TYPES: Record<string, VType> = { mode: 'string', name: 'string' };
export const INIC_PARAMS_TYPES: Record<string, VType> = {
  bridge: 'maybe-string', ip: 'maybe-string', link: 'string', mac: 'string', mode: 'string', name: 'maybe-string',
  network: 'maybe-string', vlan: 'maybe-string',
};
export const NICS_PARAMETER_TYPES: Record<string, VType> = { link: 'string', mode: 'string', vlan: 'string' };
export const HVS_PARAMETER_TYPES: Record<string, VType> = {
  acpi: 'bool', blockdev_prefix: 'string', boot_order: 'string', bootloader_args: 'string', bootloader_path: 'string',
  cdrom2_image_path: 'string', cdrom_disk_type: 'string', cdrom_image_path: 'string', cpu_cap: 'int', cpu_cores: 'int',
  cpu_mask: 'string', cpu_sockets: 'int', cpu_threads: 'int', cpu_type: 'string', cpu_weight: 'int', cpuid: 'string',
  device_model: 'string', devices: 'string', disk_aio: 'string', disk_cache: 'string', disk_discard: 'string',
  disk_type: 'string', drop_capabilities: 'string', extra_cgroups: 'string', extra_config: 'string',
  floppy_image_path: 'string', init_script: 'string', initrd_path: 'string', kernel_args: 'string', kernel_path: 'string',
  keymap: 'string', kvm_extra: 'string', kvm_flag: 'string', kvm_path: 'string', kvm_pci_reservations: 'int',
  machine_version: 'string', mem_path: 'string', migration_bandwidth: 'int', migration_caps: 'string',
  migration_downtime: 'int', migration_mode: 'string', migration_port: 'int', nic_type: 'string', num_ttys: 'int',
  pae: 'bool', pci_pass: 'string', reboot_behavior: 'string', root_path: 'maybe-string', scsi_controller_type: 'string',
  security_domain: 'string', security_model: 'string', serial_console: 'bool', serial_speed: 'int', soundhw: 'string',
  spice_bind: 'string', spice_image_compression: 'string', spice_ip_version: 'int', spice_jpeg_wan_compression: 'string',
  spice_password_file: 'string', spice_playback_compression: 'bool', spice_streaming_video: 'string',
  spice_tls_ciphers: 'string', spice_use_tls: 'bool', spice_use_vdagent: 'bool', spice_zlib_glz_wan_compression: 'string',
  startup_timeout: 'int', usb_devices: 'string', usb_mouse: 'string', use_bootloader: 'bool', use_chroot: 'bool',
  use_guest_agent: 'bool', use_localtime: 'bool', user_shutdown: 'bool', vga: 'string', vhost_net: 'bool',
  vif_script: 'string', vif_type: 'string', viridian: 'bool', virtio_net_queues: 'int', vnc_bind_address: 'string',
  vnc_password_file: 'string', vnc_tls: 'bool', vnc_x509_path: 'string', vnc_x509_verify: 'bool', vnet_hdr: 'bool',
  xen_cmd: 'string',
};
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
export const ISPECS_PARAMETER_TYPES: Record<string, VType> = {
  'cpu-count': 'int', 'disk-count': 'int', 'disk-size': 'int', 'memory-size': 'int', 'nic-count': 'int', 'spindle-use': 'int',
};
export const HVSTS_PARAMETER_TYPES: Record<string, VType> = {
  cpu_node: 'int', cpu_total: 'int', mem_hv: 'int', mem_node: 'int', mem_total: 'int',
};
export const DSS_PARAMETER_TYPES: Record<string, VType> = { disk_overhead: 'int', disk_reserved: 'int', disk_total: 'int' };

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

/** A dict, where Ganeti would fail calling .items() on anything else. */
export function requireDict(v: unknown): Record<string, unknown> {
  if (!isDict(v)) throw new TypeEnforcementError(`Expected dictionary, got '${pyRepr(v)}'`);
  return v;
}

/** cmdlib.common.GetUpdatedParams: "default" (and with useNone, null) removes a key. */
export function updatedParams(
  old: Record<string, unknown>, update: Record<string, unknown>, opts: { useDefault?: boolean; useNone?: boolean } = {},
): Record<string, unknown> {
  const { useDefault = true, useNone = false } = opts;
  const out = structuredClone(old);
  for (const [key, val] of Object.entries(requireDict(update))) {
    if ((useDefault && val === VALUE_DEFAULT) || (useNone && val === null)) delete out[key];
    else out[key] = val;
  }
  return out;
}

/** objects.NIC.CheckParameterSyntax, on filled NIC parameters. */
export function checkNicParams(nicparams: Record<string, unknown>): void {
  const mode = nicparams.mode;
  if (!NIC_VALID_MODES.includes(mode as string) && mode !== VALUE_AUTO) throw new ConfigurationError(`Invalid NIC mode '${pyStr(mode)}'`);
  if (mode === 'bridged' && !nicparams.link) throw new ConfigurationError('Missing bridged NIC link');
}
