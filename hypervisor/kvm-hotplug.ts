// Devices added to and removed from a running kvm guest (hv_kvm.HotAddDevice
// / HotDelDevice): a disk's drive through the monitor, a NIC's tap as a
// netdev (QEMU opens it by name, rapid puts it on the bridge), then the PCI
// device; removal waits for the guest to let the device go (ACPI hotplug).
// The saved command line follows, so a soft reboot keeps the change.
import { HypervisorFailure } from './driver.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { aioCache, deviceId, q } from './kvm-cmdline.ts';
import type { QmpClient } from './qmp.ts';
import type { KvmRuntimeFile } from './kvm.ts';

const UNPLUG_TIMEOUT_MS = 20_000;

export interface HotplugNic {
  uuid: string;
  mac: string;
  tap: string;
  link: string;
}

export interface HotplugDisk {
  uuid: string;
  path: string;
  template: string;
}

function driveArg(d: HotplugDisk, hvparams: Record<string, unknown>): string {
  const id = deviceId('disk', d.uuid);
  return `file=${q(d.path)},format=raw,if=none${aioCache(hvparams, d.template)},id=${id},auto-read-only=off`;
}

/** Only virtio devices hotplug here (Ganeti: disk_type / nic_type paravirtual). */
function checkSupported(hvparams: Record<string, unknown>, param: 'disk_type' | 'nic_type' = 'disk_type'): void {
  if (hvparams[param] !== 'paravirtual') {
    throw new HypervisorFailure(`Hotplug is not supported for ${param} '${hvparams[param]}' by rapid's kvm hypervisor (only paravirtual)`);
  }
}

export async function hotAddDisk(qmp: QmpClient, rt: KvmRuntimeFile, d: HotplugDisk, timeoutMs: number): Promise<KvmRuntimeFile> {
  checkSupported(rt.hvparams);
  const id = deviceId('disk', d.uuid);
  const drive = driveArg(d, rt.hvparams);
  const out = await qmp.execute('human-monitor-command', { 'command-line': `drive_add dummy ${drive}` }, { timeoutMs });
  if (typeof out === 'string' && out.trim() && !/OK/.test(out)) throw new HypervisorFailure(`Hotplug of disk ${id} failed: ${out.trim()}`);
  try {
    await qmp.execute('device_add', { driver: 'virtio-blk-pci', id, drive: id }, { timeoutMs });
  } catch (err) {
    await qmp.execute('human-monitor-command', { 'command-line': `drive_del ${id}` }, { timeoutMs }).catch(() => undefined);
    throw new HypervisorFailure(`Hotplug of disk ${id} failed: ${(err as Error).message}`);
  }
  return { ...rt, argv: [...rt.argv, '-drive', drive, '-device', `virtio-blk-pci,id=${id},drive=${id}`] };
}

/** device_del, and the guest's DEVICE_DELETED (it must release the device). */
async function unplug(qmp: QmpClient, id: string, timeoutMs: number): Promise<void> {
  const gone = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new HypervisorFailure(`Hot-removing ${id}: the guest did not release it within ${UNPLUG_TIMEOUT_MS / 1000}s`)); }, UNPLUG_TIMEOUT_MS);
    const off = qmp.onEvent((e) => {
      if (e.event === 'DEVICE_DELETED' && e.data?.device === id) { clearTimeout(timer); off(); resolve(); }
    });
  });
  gone.catch(() => undefined);
  await qmp.execute('device_del', { id }, { timeoutMs });
  await gone;
}

/** The saved command line without the option pairs whose value names `id` (as `key=id`). */
function withoutDevice(argv: string[], options: [string, string][]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const value = (argv[i + 1] ?? '').split(',');
    if (options.some(([opt, kv]) => argv[i] === opt && value.includes(kv))) { i++; continue; }
    out.push(argv[i]!);
  }
  return out;
}

export async function hotDelDisk(qmp: QmpClient, rt: KvmRuntimeFile, uuid: string, timeoutMs: number): Promise<KvmRuntimeFile> {
  checkSupported(rt.hvparams);
  const id = deviceId('disk', uuid);
  await unplug(qmp, id, timeoutMs);
  // A -drive/drive_add backend goes with its device; drive_del only mops up if it did not.
  await qmp.execute('human-monitor-command', { 'command-line': `drive_del ${id}` }, { timeoutMs }).catch(() => undefined);
  return { ...rt, argv: withoutDevice(rt.argv, [['-drive', `id=${id}`], ['-device', `drive=${id}`]]) };
}

export async function hotAddNic(qmp: QmpClient, rt: KvmRuntimeFile, n: HotplugNic, timeoutMs: number): Promise<KvmRuntimeFile> {
  checkSupported(rt.hvparams, 'nic_type');
  const id = deviceId('nic', n.uuid);
  await qmp.execute('netdev_add', { type: 'tap', id, ifname: n.tap, script: 'no', downscript: 'no' }, { timeoutMs });
  try {
    await promisify(execFile)('ip', ['link', 'set', 'dev', n.tap, 'master', n.link, 'up']);
    await qmp.execute('device_add', { driver: 'virtio-net-pci', id, netdev: id, mac: n.mac }, { timeoutMs });
  } catch (err) {
    await qmp.execute('netdev_del', { id }, { timeoutMs }).catch(() => undefined);
    throw new HypervisorFailure(`Hotplug of NIC ${id} failed: ${(err as Error).message}`);
  }
  return {
    ...rt,
    argv: [...rt.argv, '-netdev', `tap,id=${id},ifname=${n.tap},script=no,downscript=no`, '-device', `virtio-net-pci,id=${id},netdev=${id},mac=${n.mac}`],
    nics: [...rt.nics, { tap: n.tap, link: n.link }],
  };
}

export async function hotDelNic(qmp: QmpClient, rt: KvmRuntimeFile, n: Pick<HotplugNic, 'uuid' | 'tap'>, timeoutMs: number): Promise<KvmRuntimeFile> {
  checkSupported(rt.hvparams, 'nic_type');
  const id = deviceId('nic', n.uuid);
  await unplug(qmp, id, timeoutMs);
  await qmp.execute('netdev_del', { id }, { timeoutMs }).catch(() => undefined);
  return { ...rt, argv: withoutDevice(rt.argv, [['-netdev', `id=${id}`], ['-device', `netdev=${id}`]]), nics: rt.nics.filter((x) => x.tap !== n.tap) };
}
