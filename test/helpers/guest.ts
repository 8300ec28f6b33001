// The bootable test guest (scripts/build-test-guest.sh) and what tests need
// to drive it: a KVM instance spec that boots it, and its serial console.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BEC_DEFAULTS, HVC_DEFAULTS } from '../../src/defaults.ts';
import type { InstanceSpecLike } from '../../hypervisor/driver.ts';
import { buildTestGuest, type TestGuest } from '../../hypervisor/test-guest.ts';
import { processAlive } from '../../hypervisor/host.ts';

export const READY = 'GUEST-READY';

let built: Promise<TestGuest> | undefined;

/** Builds (or reuses) the guest once per test process. */
export function testGuest(): Promise<TestGuest> {
  built ??= buildTestGuest();
  return built;
}

/** A KVM instance spec booting the test guest: Ganeti's defaults plus the guest's kernel. */
export async function guestSpec(name: string, o: { hvparams?: Record<string, unknown>; beparams?: Record<string, unknown>; disks?: InstanceSpecLike['disks'] } = {}): Promise<InstanceSpecLike> {
  const g = await testGuest();
  return {
    name,
    uuid: '8d5d7b6e-1f0a-4c8e-9a43-2a4bb7f0c001',
    hypervisor: 'kvm',
    hvparams: { ...HVC_DEFAULTS.kvm, kernel_path: g.kernel, initrd_path: g.initrd, kernel_args: 'ro quiet', ...o.hvparams },
    beparams: { ...BEC_DEFAULTS, maxmem: 128, minmem: 128, vcpus: 1, ...o.beparams },
    disks: o.disks ?? [],
    nics: [],
    disk_template: 'file',
    network_port: null,
  };
}

/**
 * A guest's serial console. It keeps reading the socket for as long as it is
 * open: a console that is not drained stalls the guest's output.
 */
export class Serial {
  private text = '';
  private waiters = new Set<() => void>();
  private seq = 0;

  private constructor(private socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.text += d;
      for (const w of [...this.waiters]) w();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => { for (const w of [...this.waiters]) w(); });
  }

  static connect(socketPath: string): Promise<Serial> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(socketPath);
      s.once('connect', () => resolve(new Serial(s)));
      s.once('error', reject);
    });
  }

  get output(): string {
    return this.text;
  }

  /** Waits until the output after `from` matches. */
  waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.text.slice(from).match(pattern);
        if (m) { done(); resolve(m); } else if (this.socket.destroyed) { done(); reject(new Error(`serial console closed before ${pattern}: ${this.text.slice(-300)}`)); }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`no ${pattern} on the serial console within ${timeoutMs} ms: ${JSON.stringify(this.text.slice(-300))}`)); }, timeoutMs);
      const done = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  /**
   * Runs one shell command line in the guest and returns what it printed.
   * The end marker is computed by the guest, so the echoed input never matches it.
   */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const n = ++this.seq;
    const from = this.text.length;
    this.socket.write(`${command}; echo END$((${n * 1000}+42))\n`);
    const m = await this.waitFor(new RegExp(`([\\s\\S]*?)END${n * 1000 + 42}`), timeoutMs, from);
    return m[1]!;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * After a test that failed half-way: SIGKILL every live process a pidfile
 * in `dir` names (a kvm run dir's pid/, its storage daemons' disk/*.pid).
 */
export function killByPidfiles(dir: string, only: (file: string) => boolean = () => true): void {
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter(only) : []) {
    const pid = parseInt(fs.readFileSync(path.join(dir, f), 'utf8'), 10);
    if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}
