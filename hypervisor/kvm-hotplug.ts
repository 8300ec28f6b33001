// Disks added to and removed from a running kvm guest (hv_kvm.HotAddDevice /
// HotDelDevice for disks): the drive through the monitor, then the PCI
// device; removal waits for the guest to let the device go (ACPI hotplug).
// The saved command line follows, so a soft reboot keeps the change.
import { HypervisorFailure } from './driver.ts';
import { aioCache, deviceId, q } from './kvm-cmdline.ts';
import type { QmpClient } from './qmp.ts';
import type { KvmRuntimeFile } from './kvm.ts';

const UNPLUG_TIMEOUT_MS = 20_000;

export interface HotplugDisk {
  uuid: string;
  path: string;
  template: string;
}

function driveArg(d: HotplugDisk, hvparams: Record<string, unknown>): string {
  const id = deviceId('disk', d.uuid);
  return `file=${q(d.path)},format=raw,if=none${aioCache(hvparams, d.template)},id=${id},auto-read-only=off`;
}

/** Only virtio disks hotplug here (Ganeti: disk_type paravirtual). */
function checkSupported(hvparams: Record<string, unknown>): void {
  if (hvparams.disk_type !== 'paravirtual') {
    throw new HypervisorFailure(`Hotplug is not supported for disk_type '${hvparams.disk_type}' by rapid's kvm hypervisor (only paravirtual)`);
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

export async function hotDelDisk(qmp: QmpClient, rt: KvmRuntimeFile, uuid: string, timeoutMs: number): Promise<KvmRuntimeFile> {
  checkSupported(rt.hvparams);
  const id = deviceId('disk', uuid);
  const gone = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new HypervisorFailure(`Hot-removing disk ${id}: the guest did not release it within ${UNPLUG_TIMEOUT_MS / 1000}s`)); }, UNPLUG_TIMEOUT_MS);
    const off = qmp.onEvent((e) => {
      if (e.event === 'DEVICE_DELETED' && e.data?.device === id) { clearTimeout(timer); off(); resolve(); }
    });
  });
  gone.catch(() => undefined);
  await qmp.execute('device_del', { id }, { timeoutMs });
  await gone;
  // A -drive/drive_add backend goes with its device; drive_del only mops up if it did not.
  await qmp.execute('human-monitor-command', { 'command-line': `drive_del ${id}` }, { timeoutMs }).catch(() => undefined);
  // Drop "-drive …id=<id>…" and "-device …,drive=<id>" from the saved command line.
  const argv: string[] = [];
  for (let i = 0; i < rt.argv.length; i++) {
    const next = rt.argv[i + 1] ?? '';
    const mine = (rt.argv[i] === '-drive' && next.split(',').includes(`id=${id}`)) || (rt.argv[i] === '-device' && next.split(',').includes(`drive=${id}`));
    if (mine) { i++; continue; }
    argv.push(rt.argv[i]!);
  }
  return { ...rt, argv };
}
