// Test "hosts": network namespaces wired to one bridge, so traffic between
// them crosses veth pairs as it would cross a real network. Each set gets
// its own switch namespace holding the bridge, so sets never see each other
// and may all use the same addresses; nothing outside the namespaces a set
// creates is touched.
//
// Names are "rt<owner pid>-<set>-<host>" (and "-sw" for the switch). A set is
// deleted by destroy(), on process exit if the test never got there, and, if
// the owning test process was killed outright, by the next process that
// creates a set (namespaces whose owner pid is gone).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const PREFIX = 'rt';
const live = new Set<Hosts>();
let sets = 0;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Hosts {
  /** Namespace of each host. */
  readonly names: string[];
  /** Address of each host on the shared /24 (10.213.0.1, .2, …). */
  readonly ips: string[];
  readonly switchNs: string;
  /** Runs argv in host `i`'s namespace; resolves with its exit code (never rejects for a non-zero one). */
  exec(i: number, argv: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  destroy(): Promise<void>;
}

async function ip(args: string[]): Promise<void> {
  await execFileP('ip', args, { timeout: 10_000 });
}

/** Namespaces left by test processes that no longer exist. */
function reapStale(): void {
  let names: string[];
  try {
    names = fs.readdirSync('/run/netns');
  } catch {
    return;
  }
  const own = new RegExp(`^${PREFIX}(\\d+)-\\d+-(?:\\d+|sw)$`);
  for (const n of names) {
    const m = own.exec(n);
    if (!m || fs.existsSync(`/proc/${m[1]}`)) continue;
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    } catch {
      // another process reaped it first
    }
  }
}

/** Creates `n` hosts (n ≤ 250) behind one bridge. */
export async function createHosts(n: number): Promise<Hosts> {
  reapStale();
  const base = `${PREFIX}${process.pid}-${++sets}`;
  const switchNs = `${base}-sw`;
  const names = Array.from({ length: n }, (_, i) => `${base}-${i}`);
  const ips = names.map((_, i) => `10.213.0.${i + 1}`);
  const created: string[] = [];
  const hosts: Hosts = {
    names, ips, switchNs,
    async exec(i, argv, opts = {}) {
      try {
        const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', names[i]!, ...argv], { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
        return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
      }
    },
    async destroy() {
      live.delete(hosts);
      for (const ns of created.splice(0).reverse()) await ip(['netns', 'del', ns]).catch(() => undefined);
    },
  };
  live.add(hosts);
  try {
    await ip(['netns', 'add', switchNs]);
    created.push(switchNs);
    await ip(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', switchNs, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < n; i++) {
      const ns = names[i]!;
      await ip(['netns', 'add', ns]);
      created.push(ns);
      // Both ends are born in their namespaces: no name ever appears in the host's own.
      await ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', switchNs]);
      await ip(['-n', switchNs, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${ips[i]}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await hosts.destroy();
    throw err;
  }
  return hosts;
}

// A test that throws before destroy() must not leave namespaces behind.
process.once('exit', () => {
  for (const h of live) {
    for (const ns of [...h.names, h.switchNs]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // never created, or already gone
      }
    }
  }
});
