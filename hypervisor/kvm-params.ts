// The KVM hypervisor's parameter checks, with Ganeti's messages:
// hv_kvm.KVMHypervisor.PARAMETERS through hv_base.CheckParameterSyntax (cheap,
// on the master) and ValidateParameters (on the node: files, interfaces,
// users, the machine types of the QEMU binary), plus hv_kvm/validation.py.
import { isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import { HypervisorFailure } from './driver.ts';

type Params = Record<string, unknown>;

/** errors.HypervisorError raised by a parameter check. */
export class KvmParameterError extends HypervisorFailure {}

// constants.HT_KVM_VALID_* and friends (sorted: Ganeti prints frozensets in
// hash order, which no client can rely on).
export const KVM_BOOT_ORDERS = ['cdrom', 'disk', 'floppy', 'network'] as const;
export const KVM_NIC_TYPES = ['e1000', 'i82551', 'i82557b', 'i82559er', 'ne2k_isa', 'ne2k_pci', 'paravirtual', 'pcnet', 'rtl8139'] as const;
export const KVM_DISK_TYPES = ['ide', 'mtd', 'paravirtual', 'pflash', 'scsi', 'scsi-block', 'scsi-cd', 'scsi-generic', 'scsi-hd', 'sd'] as const;
export const KVM_SCSI_DEVICE_TYPES = ['scsi-block', 'scsi-cd', 'scsi-generic', 'scsi-hd'] as const;
export const KVM_SCSI_CONTROLLER_TYPES = ['lsi', 'megasas', 'virtio-scsi-pci'] as const;
export const KVM_CACHE_TYPES = ['default', 'none', 'writeback', 'writethrough'] as const;
export const KVM_DISCARD_TYPES = ['default', 'ignore', 'unmap'] as const;
export const KVM_AIO_TYPES = ['native', 'threads'] as const;
export const KVM_MOUSE_TYPES = ['mouse', 'tablet'] as const;
export const KVM_SECURITY_MODELS = ['none', 'pool', 'user'] as const;
export const KVM_FLAG_VALUES = ['disabled', 'enabled'] as const;
export const REBOOT_BEHAVIORS = ['exit', 'reboot'] as const;
export const VALID_SERIAL_SPEEDS = [75, 110, 300, 600, 1200, 1800, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200, 230400, 345600, 460800] as const;
const SPICE_LOSSLESS = ['auto_glz', 'auto_lz', 'glz', 'lz', 'off', 'quic'];
const SPICE_LOSSY = ['always', 'auto', 'never'];
const SPICE_VIDEO = ['all', 'filter', 'off'];
const QEMU_PCI_SLOTS = 32;

/** Python's "%s" of a parameter value, as Ganeti's messages show it. */
export function pyValue(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  return String(v);
}

/** hv_base._IsParamValueUnspecified. */
const unspecified = (v: unknown) => v === null || v === undefined || v === '';

/** utils.IsNormAbsPath. */
export function isNormAbsPath(p: unknown): boolean {
  return typeof p === 'string' && path.isAbsolute(p) && path.posix.normalize(p) === p && (p === '/' || !p.endsWith('/'));
}

/** utils.IsUrl (io.URL_RE). */
export const isUrl = (p: unknown) => typeof p === 'string' && /^https?:\/\//.test(p);

function cpuMaskOk(mask: string): boolean {
  // utils.ParseCpuMask: "a,b-c"; non-empty, ranges ascending.
  return mask.split(',').every((r) => {
    const b = r.split('-');
    if (b.length > 2 || !b.every((x) => /^\s*\d+\s*$/.test(x))) return false;
    return Number(b[0]) <= Number(b[b.length - 1]);
  });
}

/** hv_base._IsMultiCpuMaskWellFormed (utils.ParseMultiCpuMask). */
function multiCpuMaskOk(v: unknown): boolean {
  if (typeof v !== 'string' || !v) return false;
  return v.split(':').every((m) => m.trim() === 'all' || cpuMaskOk(m));
}

interface Check {
  required: boolean;
  syntax?: [(v: unknown) => boolean, string];
  /** Node-side check; gets the host facts. */
  validate?: [(v: unknown, host: KvmHostFacts) => boolean, string];
}

const inSet = (required: boolean, values: readonly (string | number)[]): Check => ({
  required,
  syntax: [(v) => values.includes(v as string), `The value must be one of: ${values.join(', ')}`],
});
const FILE: Check['syntax'] = [isNormAbsPath, 'must be an absolute normalized path'];
const reqFile: Check = { required: true, syntax: FILE, validate: [(v, h) => h.isFile(String(v)), 'not found or not a file'] };
const optFile: Check = { ...reqFile, required: false };
const optDir: Check = { required: false, syntax: FILE, validate: [(v, h) => h.isDir(String(v)), 'not found or not a directory'] };
const optFileOrUrl: Check = {
  required: false,
  syntax: [(v) => isNormAbsPath(v) || isUrl(v), 'must be an absolute normalized path or a URL'],
  validate: [(v, h) => isUrl(v) || h.isFile(String(v)), 'not found or not a file or URL'],
};
const nonNegative = (required: boolean): Check => ({ required, syntax: [(v) => Number(v) >= 0, 'cannot be negative'] });

/** hv_kvm.KVMHypervisor.PARAMETERS, minus the parameters without checks. */
const CHECKS: Record<string, Check> = {
  kvm_path: reqFile,
  kernel_path: optFile,
  initrd_path: optFile,
  vnc_x509_path: optDir,
  vnc_password_file: optFile,
  spice_ip_version: { required: false, syntax: [(v) => v === 0 || v === 4 || v === 6, 'The SPICE IP version should be 4 or 6'] },
  spice_password_file: optFile,
  spice_image_compression: inSet(false, SPICE_LOSSLESS),
  spice_jpeg_wan_compression: inSet(false, SPICE_LOSSY),
  spice_zlib_glz_wan_compression: inSet(false, SPICE_LOSSY),
  spice_streaming_video: inSet(false, SPICE_VIDEO),
  floppy_image_path: optFile,
  cdrom_image_path: optFileOrUrl,
  cdrom2_image_path: optFileOrUrl,
  boot_order: inSet(true, KVM_BOOT_ORDERS),
  nic_type: inSet(true, KVM_NIC_TYPES),
  disk_type: inSet(true, KVM_DISK_TYPES),
  scsi_controller_type: inSet(true, KVM_SCSI_CONTROLLER_TYPES),
  disk_discard: inSet(false, KVM_DISCARD_TYPES),
  cdrom_disk_type: inSet(false, KVM_DISK_TYPES),
  usb_mouse: inSet(false, KVM_MOUSE_TYPES),
  migration_port: { required: true, syntax: [(v) => Number(v) > 0 && Number(v) < 65535, 'invalid port number'] },
  migration_bandwidth: nonNegative(true),
  migration_downtime: nonNegative(true),
  disk_cache: inSet(true, KVM_CACHE_TYPES),
  disk_aio: inSet(false, KVM_AIO_TYPES),
  security_model: inSet(true, KVM_SECURITY_MODELS),
  kvm_flag: inSet(false, KVM_FLAG_VALUES),
  virtio_net_queues: { required: false, syntax: [(v) => Number(v) > 0 && Number(v) < 9, 'invalid number of queues'] },
  mem_path: optDir,
  reboot_behavior: inSet(true, REBOOT_BEHAVIORS),
  cpu_mask: { required: false, syntax: [multiCpuMaskOk, 'Multiple CPU mask definition is not well-formed'] },
  cpu_cores: nonNegative(false),
  cpu_threads: nonNegative(false),
  cpu_sockets: nonNegative(false),
  kvm_pci_reservations: {
    required: false,
    syntax: [(v) => Number(v) >= 0 && Number(v) <= QEMU_PCI_SLOTS, `The number of PCI slots managed by QEMU (max: ${QEMU_PCI_SLOTS})`],
  },
};

const SPICE_ADDITIONAL = ['spice_ip_version', 'spice_password_file', 'spice_image_compression', 'spice_jpeg_wan_compression',
  'spice_zlib_glz_wan_compression', 'spice_streaming_video', 'spice_use_tls'];

const fail = (msg: string): never => { throw new KvmParameterError(msg); };

/**
 * KVMHypervisor.CheckParameterSyntax without the generic part (unknown or
 * missing parameters; jobs/ops/hv-params.ts does that): `hvp` is complete.
 */
export function checkKvmParameterSyntax(hvp: Params): void {
  for (const [name, c] of Object.entries(CHECKS)) {
    const v = hvp[name];
    if (unspecified(v)) {
      if (c.required) fail(`Parameter '${name}' is required but is currently not defined`);
      continue;
    }
    if (c.syntax && !c.syntax[0](v)) fail(`Parameter '${name}' fails syntax check: ${c.syntax[1]} (current value: '${pyValue(v)}')`);
  }
  // validation.check_boot_parameters
  if (hvp.boot_order === 'cdrom' && !hvp.cdrom_image_path) fail('Cannot boot from cdrom without an ISO path');
  if (hvp.kernel_path && !hvp.root_path) fail('Need a root partition for the instance, if a kernel is defined');
  // check_security_model
  if (hvp.security_model === 'user' && !hvp.security_domain) fail('A security domain (user to run kvm as) must be specified');
  if ((hvp.security_model === 'none' || hvp.security_model === 'pool') && hvp.security_domain) {
    fail("Cannot have a security domain when the security model is 'none' or 'pool'");
  }
  // check_console_parameters
  if (hvp.serial_console && !(VALID_SERIAL_SPEEDS as readonly unknown[]).includes(hvp.serial_speed)) {
    fail(`Invalid serial console speed, must be one of: ${VALID_SERIAL_SPEEDS.join(', ')}`);
  }
  // check_vnc_parameters
  if (hvp.vnc_x509_verify && !hvp.vnc_x509_path) fail('vnc_x509_path must be defined, if vnc_x509_verify is');
  // check_spice_parameters
  const spiceBind = hvp.spice_bind;
  if (spiceBind) {
    const ver = hvp.spice_ip_version;
    if (ver !== 0 && ver !== undefined) {
      if (isIPv4(String(spiceBind)) && ver !== 4) fail(`SPICE: Got an IPv4 address (${spiceBind}), but the specified IP version is ${ver}`);
      if (isIPv6(String(spiceBind)) && ver !== 6) fail(`SPICE: Got an IPv6 address (${spiceBind}), but the specified IP version is ${ver}`);
    }
  } else {
    for (const p of SPICE_ADDITIONAL) if (hvp[p]) fail(`SPICE: ${p} requires spice_bind to be set`);
  }
  // check_disk_cache_parameters
  if (hvp.disk_aio === 'native' && hvp.disk_cache !== 'none') {
    fail("When 'disk_aio' is set to 'native', the only supported value for 'disk_cache' is 'none'.");
  }
}

/** What ValidateParameters looks at on the node; injected so checks stay pure. */
export interface KvmHostFacts {
  isFile(p: string): boolean;
  isDir(p: string): boolean;
  /** The IPv4 addresses of a network interface; undefined when there is no such interface. */
  interfaceIPv4(name: string): string[] | undefined;
  userExists(name: string): boolean;
  /** Output of `<kvm_path> -machine ?`. */
  machineHelp: string;
}

/** KVMHypervisor.ValidateParameters (the node-side checks), SPICE excepted: rapid has no SPICE. */
export function validateKvmParameters(hvp: Params, host: KvmHostFacts): void {
  for (const [name, c] of Object.entries(CHECKS)) {
    const v = hvp[name];
    if (!c.required && unspecified(v)) continue;
    if (c.validate && !c.validate[0](v, host)) fail(`Parameter '${name}' fails validation: ${c.validate[1]} (current value: '${pyValue(v)}')`);
  }
  if (hvp.security_model === 'user' && !host.userExists(String(hvp.security_domain))) {
    fail(`Unknown security domain user ${hvp.security_domain}`);
  }
  const vnc = hvp.vnc_bind_address;
  if (vnc) {
    const s = String(vnc);
    if (!isIPv4(s) && !isIPv6(s) && host.interfaceIPv4(s) === undefined && !isNormAbsPath(s)) {
      fail('VNC: The vnc_bind_address parameter must be either a valid IP address, an interface name, or an absolute path');
    }
  }
  const mv = hvp.machine_version;
  if (mv && !machineSupported(String(mv), host.machineHelp)) fail(`Unsupported machine version: ${mv}`);
}

/** validation._CHECK_MACHINE_VERSION_RE: a PC machine type QEMU lists. */
export function machineSupported(version: string, machineHelp: string): boolean {
  const esc = version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(${esc})[ ]+.*PC`, 'm').test(machineHelp);
}

/** hv_kvm._DEFAULT_MACHINE_VERSION_RE over `-machine ?`; "pc" when none is marked. */
export function defaultMachine(machineHelp: string): string {
  return /^(\S+).*\(default\)/m.exec(machineHelp)?.[1] ?? 'pc';
}
