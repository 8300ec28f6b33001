// Facts about the host machine, read the way Ganeti's hv_base.GetLinuxNodeInfo
// reads them (/proc/meminfo, CPU count).
import { readFile } from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';

/** Debian's QEMU for x86 guests: its presence makes kvm a new cluster's default hypervisor. */
export const QEMU_SYSTEM = '/usr/bin/qemu-system-x86_64';

export interface HostMemory { total: number; available: number }

export async function hostMemory(): Promise<HostMemory> {
  const text = await readFile('/proc/meminfo', 'utf8').catch(() => '');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  if (Number.isFinite(total) && Number.isFinite(available)) {
    return { total: Math.floor(total / 1024), available: Math.floor(available / 1024) };
  }
  return { total: Math.floor(os.totalmem() / 2 ** 20), available: Math.floor(os.freemem() / 2 ** 20) };
}

export function hostCpus(): { ctotal: number; cnos: number; cnodes: number; csockets: number } {
  return { ctotal: os.cpus().length, cnos: 1, cnodes: 1, csockets: 1 };
}

/** A live, non-zombie process (kill(pid, 0) succeeds on zombies too). */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
