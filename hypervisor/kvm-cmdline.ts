// QEMU's argument vector for a Ganeti KVM instance, built the way
// hv_kvm._GenerateKVMRuntime, _ExecuteKVMRuntime and
// _GenerateKVMBlockDevicesOptions build it, as a pure function: everything it
// needs from the host (QEMU's machine and device lists, interface addresses,
// file paths, tap names) comes in as input.
//
// Differences from Ganeti, on purpose:
// - the serial console is a socket chardev with a log file (console history);
// - taps are named by rapid and opened by QEMU (`ifname=`), not passed as fds;
// - the accelerator is also a node setting (nested KVM hangs some hosts);
// - ACPI off is the machine property `acpi=off` (QEMU deprecates -no-acpi);
// - socket options use QEMU's current `server=on,wait=off` spelling.
import { isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import { HypervisorFailure } from './driver.ts';
import { KVM_SCSI_DEVICE_TYPES, checkKvmParameterSyntax, defaultMachine, isUrl, pyValue } from './kvm-params.ts';

type Params = Record<string, unknown>;

/** A value Ganeti accepts that rapid's KVM driver does not implement (yet). */
export class KvmUnsupportedError extends HypervisorFailure {
  constructor(readonly param: string, readonly value: unknown, why: string, kind = 'hypervisor parameter ') {
    super(`${kind}${param}='${pyValue(value)}' is not supported by rapid's kvm hypervisor: ${why}`.replace(/^./, (c) => c.toUpperCase()));
  }
}

/** Node setting: `kvm`, `tcg`, or `auto` (the instance's kvm_flag decides). */
export type KvmAccel = 'kvm' | 'tcg' | 'auto';

/** Where one instance's runtime files live (see kvm.ts for the layout). */
export interface KvmPaths {
  pidfile: string;
  monitor: string;
  qmp: string;
  /** The second QMP socket (Ganeti's kvmd one): diagnostics and tools. */
  kvmd: string;
  serial: string;
  serialLog: string;
  qga: string;
  log: string;
}

/** Ganeti's kvm-hypervisor run-directory layout for one guest (see kvm.ts). */
export function kvmPaths(runDir: string, name: string): KvmPaths & { runtime: string; shutdown: string } {
  return {
    pidfile: path.join(runDir, 'pid', name),
    monitor: path.join(runDir, 'ctrl', `${name}.monitor`),
    qmp: path.join(runDir, 'ctrl', `${name}.qmp`),
    kvmd: path.join(runDir, 'ctrl', `${name}.kvmd`),
    serial: path.join(runDir, 'ctrl', `${name}.serial`),
    qga: path.join(runDir, 'ctrl', `${name}.qga`),
    shutdown: path.join(runDir, 'ctrl', `${name}.shutdown`),
    serialLog: path.join(runDir, 'log', `${name}.serial.log`),
    log: path.join(runDir, 'log', `${name}.log`),
    runtime: path.join(runDir, 'conf', `${name}.runtime`),
  };
}

export interface KvmDiskInput {
  uuid: string;
  mode: string;
  path: string;
  /** The disk template; shared-storage ones get cache=none as in Ganeti. */
  template: string;
}

export interface KvmNicInput {
  uuid: string;
  mac: string;
  /** The host tap device for this NIC, created before QEMU starts. */
  tap: string;
}

export interface KvmInstanceInput {
  name: string;
  uuid: string;
  /** Filled (cluster defaults applied) KVM hvparams. */
  hvparams: Params;
  /** Filled beparams. */
  beparams: Params;
  network_port: number | null;
  disks: KvmDiskInput[];
  nics: KvmNicInput[];
}

/** What the QEMU binary offers: `-machine ?` and `-device ?` output. */
export interface QemuFacts {
  machineHelp: string;
  deviceHelp: string;
}

export interface KvmCommandInput {
  instance: KvmInstanceInput;
  paths: KvmPaths;
  qemu: QemuFacts;
  accel: KvmAccel;
  /** -S: QEMU waits for `cont` (rapid always starts so and continues after its set-up). */
  paused: boolean;
  daemonize: boolean;
  incoming?: { host: string; port: number };
  /** IPv4 addresses of a host interface (for vnc_bind_address naming one); undefined: no such interface. */
  interfaceIPv4?: (name: string) => string[] | undefined;
}

export const VNC_BASE_PORT = 5900;
/** hv_kvm disks outside the node (constants.DTS_EXT_MIRROR): cache=none, for migration safety. */
const EXT_MIRROR_TEMPLATES = ['blockdev', 'diskless', 'ext', 'gluster', 'rbd', 'sharedfile'];
const PCI_BUS = 'pci.0';
const SCSI_BUS = 'scsi.0';

/** QEMU option values escape commas by doubling them. */
export const q = (s: string) => s.replace(/,/g, ',,');

/** The machine accelerator for an instance: an explicit node setting wins over kvm_flag. */
export function resolveAccel(node: KvmAccel, kvmFlag: unknown): string {
  if (node !== 'auto') return node;
  if (kvmFlag === 'enabled') return 'kvm';
  if (kvmFlag === 'disabled') return 'tcg';
  return 'kvm:tcg';
}

/** hv_kvm._GenerateDeviceKVMId: the uuid up to its third dash, with a type prefix. */
export function deviceId(kind: 'disk' | 'nic', uuid: string): string {
  const parts = uuid.split('-');
  return `${kind}-${parts.slice(0, Math.max(1, parts.length - 2)).join('-')}`;
}

/** hv_kvm._DEVICE_DRIVER_SUPPORTED over `-device ?`. */
export function deviceSupported(driver: string, deviceHelp: string): boolean {
  return deviceHelp.includes(`name "${driver}"`);
}

/** Rejects what Ganeti accepts but this driver cannot run yet, before anything is started. */
function checkSupported(hvp: Params, inst: KvmInstanceInput): void {
  const no = (param: string, why: string) => { throw new KvmUnsupportedError(param, hvp[param], why); };
  if (hvp.spice_bind) no('spice_bind', 'SPICE is not available; use vnc_bind_address');
  if (hvp.soundhw) no('soundhw', 'QEMU 7 has no -soundhw option');
  if (hvp.use_chroot) no('use_chroot', 'chroot confinement is not implemented');
  if (hvp.security_model === 'pool') no('security_model', 'the uid pool is not implemented');
  if (hvp.cpu_mask && hvp.cpu_mask !== 'all') no('cpu_mask', 'CPU pinning is not implemented');
  const diskType = String(hvp.disk_type);
  if (inst.disks.length && ['mtd', 'sd', 'scsi', 'scsi-block', 'scsi-generic'].includes(diskType)) {
    no('disk_type', diskType.startsWith('scsi-') ? 'it needs a host block device; disks are files' : 'the pc machine has no such disk interface');
  }
  if (inst.nics.length && hvp.nic_type === 'ne2k_isa') no('nic_type', 'an ISA card cannot be placed on the PCI bus');
  for (const p of ['cdrom_image_path', 'cdrom2_image_path']) if (isUrl(hvp[p])) no(p, 'CD-ROM images must be local files');
}

/** Free slots of the first PCI and SCSI buses (hv_kvm._GetBusSlots for a new instance). */
class BusSlots {
  private used: Record<string, boolean[]>;
  constructor(pciReservations: number) {
    this.used = { [PCI_BUS]: Array.from({ length: 32 }, (_, i) => i < pciReservations), [SCSI_BUS]: Array(16).fill(false) };
  }

  take(bus: string): number {
    const slot = this.used[bus]!.indexOf(false);
    if (slot < 0) throw new HypervisorFailure(`No free slots on bus ${bus}`);
    this.used[bus]![slot] = true;
    return slot;
  }
}

/** hv_kvm._GenerateDeviceHVInfo rendered by _GenerateDeviceHVInfoStr. */
function deviceOption(driver: string, id: string, bus: string, slot: number): string {
  return bus === PCI_BUS
    ? `${driver},id=${id},bus=${bus},addr=0x${slot.toString(16)}`
    : `${driver},id=${id},bus=${bus},channel=0,scsi-id=${slot},lun=0`;
}

/** The full argv: argv[0] is the QEMU binary (hvparam kvm_path). */
export function buildKvmCommand(input: KvmCommandInput): string[] {
  const { instance: inst, paths, qemu } = input;
  const hvp = inst.hvparams;
  checkKvmParameterSyntax(hvp);
  checkSupported(hvp, inst);
  const cmd: string[] = [String(hvp.kvm_path)];
  const add = (...a: string[]) => cmd.push(...a);
  const slots = new BusSlots(Number(hvp.kvm_pci_reservations ?? 12));

  // --- _GenerateKVMRuntime ---------------------------------------------------
  add('-name', inst.name);
  add('-m', String(inst.beparams.maxmem));
  const smp = [String(inst.beparams.vcpus)];
  if (Number(hvp.cpu_cores)) smp.push(`cores=${hvp.cpu_cores}`);
  if (Number(hvp.cpu_threads)) smp.push(`threads=${hvp.cpu_threads}`);
  if (Number(hvp.cpu_sockets)) smp.push(`sockets=${hvp.cpu_sockets}`);
  add('-smp', smp.join(','));
  add('-pidfile', paths.pidfile);
  const diskType = String(hvp.disk_type);
  if ((KVM_SCSI_DEVICE_TYPES as readonly string[]).includes(diskType) && inst.disks.length) {
    add('-device', `${hvp.scsi_controller_type},id=scsi`);
  }
  add('-device', 'virtio-balloon');
  if (input.daemonize) add('-daemonize');
  add('-D', paths.log);
  if (hvp.reboot_behavior === 'exit') add('-no-reboot');
  const machine = hvp.machine_version ? String(hvp.machine_version) : defaultMachine(qemu.machineHelp);
  add('-machine', `${machine},accel=${resolveAccel(input.accel, hvp.kvm_flag)}${hvp.acpi ? '' : ',acpi=off'}`);

  const kernel = hvp.kernel_path ? String(hvp.kernel_path) : '';
  const bootOrder = kernel ? '' : String(hvp.boot_order);
  if (bootOrder === 'network') add('-boot', 'n');
  const cdromType = hvp.cdrom_disk_type ? String(hvp.cdrom_disk_type) : diskType;
  if (hvp.cdrom_image_path) cdromOption(cmd, String(hvp.cdrom_image_path), cdromType, bootOrder === 'cdrom');
  if (hvp.cdrom2_image_path) cdromOption(cmd, String(hvp.cdrom2_image_path), cdromType, false);
  if (hvp.floppy_image_path) {
    if (bootOrder === 'floppy') add('-boot', 'a');
    add('-drive', `file=${q(String(hvp.floppy_image_path))},format=raw,media=disk,if=floppy`);
  }
  if (kernel) {
    add('-kernel', kernel);
    if (hvp.initrd_path) add('-initrd', String(hvp.initrd_path));
    const append = [`root=${hvp.root_path}`, String(hvp.kernel_args ?? '')];
    if (hvp.serial_console) append.push(`console=ttyS0,${hvp.serial_speed}`);
    add('-append', append.filter(Boolean).join(' '));
  }
  if (hvp.mem_path) add('-mem-path', String(hvp.mem_path), '-mem-prealloc');
  add('-monitor', `unix:${q(paths.monitor)},server=on,wait=off`);
  if (hvp.serial_console) {
    add('-chardev', `socket,id=serial0,path=${q(paths.serial)},server=on,wait=off,logfile=${q(paths.serialLog)},logappend=on`);
    add('-serial', 'chardev:serial0');
  } else {
    add('-serial', 'none');
  }
  add('-usb');
  const vnc = hvp.vnc_bind_address ? String(hvp.vnc_bind_address) : '';
  if (hvp.usb_mouse) add('-usbdevice', String(hvp.usb_mouse));
  else if (vnc) add('-usbdevice', 'tablet');
  if (vnc) vncOptions(cmd, input, vnc);
  else add('-display', 'none');
  if (hvp.use_localtime) add('-rtc', 'base=localtime');
  if (hvp.cpu_type) add('-cpu', String(hvp.cpu_type));
  if (hvp.vga) add('-vga', String(hvp.vga));
  if (hvp.usb_devices) for (const dev of String(hvp.usb_devices).split(',')) add('-usbdevice', dev);
  add('-uuid', inst.uuid);
  if (hvp.use_guest_agent) {
    add('-chardev', `socket,path=${q(paths.qga)},server=on,wait=off,id=qga0`,
      '-device', 'virtio-serial,id=qga0',
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0');
  }
  if (hvp.kvm_extra) add(...String(hvp.kvm_extra).split(' ').filter(Boolean));
  // Device slots: every disk first, then every NIC (_GenerateKVMRuntime's order).
  const diskBus = (KVM_SCSI_DEVICE_TYPES as readonly string[]).includes(diskType) ? SCSI_BUS : PCI_BUS;
  const diskSlots = inst.disks.map(() => slots.take(diskBus));
  const nicSlots = inst.nics.map(() => slots.take(PCI_BUS));

  // --- _ExecuteKVMRuntime ----------------------------------------------------
  if (hvp.security_model === 'user') add('-runas', String(hvp.security_domain));
  if (hvp.keymap) add('-k', String(hvp.keymap));
  if (!inst.nics.length) add('-net', 'none');
  else nicOptions(cmd, input, nicSlots);
  if (input.incoming) add('-incoming', `tcp:${input.incoming.host}:${input.incoming.port}`);
  add('-qmp', `unix:${q(paths.qmp)},server=on,wait=off`);
  add('-qmp', `unix:${q(paths.kvmd)},server=on,wait=off`);
  diskOptions(cmd, input, diskBus, diskSlots, bootOrder === 'disk');
  if (input.paused) add('-S');
  return cmd;
}

/** hv_kvm._CdromOption for a local image. */
function cdromOption(cmd: string[], image: string, cdromType: string, boot: boolean): void {
  let iface = cdromType === 'paravirtual' ? 'virtio' : cdromType;
  if (boot) {
    iface = 'ide';
    cmd.push('-boot', 'd');
  }
  cmd.push('-drive', `file=${q(image)},media=cdrom,format=raw,if=${iface}`);
}

/** The VNC part of _GenerateKVMRuntime. */
function vncOptions(cmd: string[], input: KvmCommandInput, bind: string): void {
  const { instance: inst } = input;
  const hvp = inst.hvparams;
  let addr = bind;
  const ifAddrs = isIPv4(bind) || isIPv6(bind) ? undefined : input.interfaceIPv4?.(bind);
  if (ifAddrs !== undefined) {
    if (!ifAddrs.length) throw new HypervisorFailure(`Could not determine IPv4 address of interface ${bind}`);
    addr = ifAddrs[0]!;
  }
  let arg: string;
  if (isIPv4(addr) || isIPv6(addr)) {
    const port = inst.network_port ?? 0;
    if (port > VNC_BASE_PORT) {
      const display = port - VNC_BASE_PORT;
      arg = addr === '0.0.0.0' ? `:${display}` : isIPv6(addr) ? `[${addr}]:${display}` : `${addr}:${display}`;
    } else {
      // Ganeti logs "Network port is not a valid VNC display" and starts without VNC.
      arg = 'none';
    }
    if (hvp.vnc_tls) {
      arg += ',tls-creds=vnctls0';
      const opts = ['id=vnctls0', 'endpoint=server'];
      let obj = 'tls-creds-anon';
      if (hvp.vnc_x509_path) {
        obj = 'tls-creds-x509';
        opts.push(`dir=${q(String(hvp.vnc_x509_path))}`, `verify-peer=${hvp.vnc_x509_verify ? 'yes' : 'no'}`);
      }
      cmd.push('-object', `${obj},${opts.join(',')}`);
    }
    // The password itself is set over QMP once QEMU runs.
    if (hvp.vnc_password_file) arg += ',password=on';
  } else {
    arg = `unix:${q(`${bind}/${inst.name}.vnc`)}`;
  }
  cmd.push('-vnc', arg);
}

/** The NIC part of _ExecuteKVMRuntime and _GetNetworkDeviceFeatures, for taps QEMU opens by name. */
function nicOptions(cmd: string[], input: KvmCommandInput, nicSlots: number[]): void {
  const hvp = input.instance.hvparams;
  const paravirtual = hvp.nic_type === 'paravirtual';
  const driver = paravirtual
    ? (deviceSupported('virtio-net-pci', input.qemu.deviceHelp) ? 'virtio-net-pci' : 'virtio')
    : String(hvp.nic_type);
  const queues = paravirtual && hvp.vhost_net ? Number(hvp.virtio_net_queues ?? 1) : 1;
  let tapExtra = `,vnet_hdr=${paravirtual && hvp.vnet_hdr ? 'on' : 'off'}`;
  let nicExtra = '';
  if (paravirtual && hvp.vhost_net) tapExtra += ',vhost=on';
  if (queues > 1) {
    tapExtra += `,queues=${queues}`;
    nicExtra = `,mq=on,vectors=${2 * queues + 2}`;
  }
  input.instance.nics.forEach((nic, i) => {
    const id = deviceId('nic', nic.uuid);
    cmd.push('-netdev', `tap,id=${id},ifname=${nic.tap},script=no,downscript=no${tapExtra}`);
    cmd.push('-device', `${deviceOption(driver, id, PCI_BUS, nicSlots[i]!)},netdev=${id},mac=${nic.mac}${nicExtra}`);
  });
}

/** hv_kvm._GenerateDiskAioCacheParameters. */
export function aioCache(hvp: Params, template: string): string {
  const cache = EXT_MIRROR_TEMPLATES.includes(template) && template !== 'rbd' ? 'none' : String(hvp.disk_cache);
  if (hvp.disk_aio === 'native') return ',aio=native,cache=none';
  return cache === 'default' ? ',aio=threads' : `,aio=threads,cache=${cache}`;
}

/** hv_kvm._GenerateKVMBlockDevicesOptions. */
function diskOptions(cmd: string[], input: KvmCommandInput, bus: string, diskSlots: number[], bootDisk: boolean): void {
  const hvp = input.instance.hvparams;
  const diskType = String(hvp.disk_type);
  const driver = diskType === 'paravirtual' ? 'virtio-blk-pci' : diskType;
  const iface = diskType === 'paravirtual' ? 'virtio' : diskType;
  const viaDevice = deviceSupported(driver, input.qemu.deviceHelp);
  const discard = hvp.disk_discard && hvp.disk_discard !== 'default' ? `,discard=${hvp.disk_discard}` : '';
  let boot = bootDisk;
  input.instance.disks.forEach((disk, i) => {
    if (disk.mode !== 'rw') throw new HypervisorFailure('Instance has read-only disks which are not supported by KVM');
    if (boot) {
      cmd.push('-boot', 'c');
      boot = false;
    }
    let drive = `file=${q(disk.path)},format=raw${viaDevice ? ',if=none' : `,if=${iface}`}${aioCache(hvp, disk.template)}${discard}`;
    if (viaDevice) {
      const id = deviceId('disk', disk.uuid);
      drive += `,id=${id}`;
      cmd.push('-device', `${deviceOption(driver, id, bus, diskSlots[i]!)},drive=${id}`);
    }
    // QEMU's dynamic auto-read-only breaks migration between security models.
    drive += ',auto-read-only=off';
    cmd.push('-drive', drive);
  });
}
