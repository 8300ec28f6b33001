// Whether a guest really boots under an accelerator. An openable /dev/kvm
// proves little: on nested "PVM" hosts KVM initialises and then hangs every
// stock guest kernel (../shared/reference/hypervisor.md), so RAPID_KVM_ACCEL
// =auto boots the test guest once under kvm and keeps the verdict.
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const GUEST_READY = 'GUEST-READY';

export interface ProbeResult {
  usable: boolean;
  /** Why, in words for the log. */
  detail: string;
  ms: number;
}

/** Boots kernel+initrd under `accel` and waits for the guest's ready line on the serial port. */
export function probeAccel(o: { qemu: string; kernel: string; initrd: string; accel: 'kvm' | 'tcg'; timeoutMs: number }): Promise<ProbeResult> {
  const started = Date.now();
  const argv = [
    '-machine', `pc,accel=${o.accel}`, '-m', '128', '-smp', '1', '-nodefaults', '-display', 'none', '-no-reboot',
    '-serial', 'stdio', '-kernel', o.kernel, '-initrd', o.initrd, '-append', 'console=ttyS0 quiet panic=-1',
  ];
  return new Promise((resolve) => {
    // A QEMU stuck in a KVM vCPU ignores SIGTERM; only SIGKILL ends it.
    const child = spawn(o.qemu, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (usable: boolean, detail: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve({ usable, detail, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false, `no guest reached ${GUEST_READY} under ${o.accel} within ${o.timeoutMs / 1000}s`), o.timeoutMs);
    const onData = (b: Buffer) => {
      out = (out + b.toString('latin1')).slice(-8192);
      if (out.includes(GUEST_READY)) finish(true, `the test guest booted under ${o.accel} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (e) => finish(false, `${o.qemu}: ${e.message}`));
    child.once('exit', (code, sig) => finish(false, `QEMU exited (${sig ?? `exit code ${code}`}) before the guest was ready: ${out.trim().split('\n').slice(-3).join(' | ')}`));
  });
}

/**
 * The verdict for this host, from `<dir>/accel-probe.json` when the kernel and
 * QEMU binary are the ones it was made with, else from a new probe (saved).
 */
export async function cachedKvmVerdict(o: { dir: string; qemu: string; guest: () => Promise<{ kernel: string; initrd: string }>; timeoutMs: number }): Promise<ProbeResult & { cached: boolean }> {
  const file = path.join(o.dir, 'accel-probe.json');
  const q = await stat(o.qemu).catch(() => null);
  const key = `${os.release()} ${o.qemu} ${q?.mtimeMs ?? 'missing'}`;
  const saved = await readFile(file, 'utf8').then((t) => JSON.parse(t) as ProbeResult & { key: string }).catch(() => null);
  if (saved?.key === key) return { usable: saved.usable, detail: saved.detail, ms: saved.ms, cached: true };
  const guest = await o.guest();
  const result = await probeAccel({ qemu: o.qemu, ...guest, accel: 'kvm', timeoutMs: o.timeoutMs });
  await mkdir(o.dir, { recursive: true });
  await writeFile(file, JSON.stringify({ key, ...result }));
  return { ...result, cached: false };
}
