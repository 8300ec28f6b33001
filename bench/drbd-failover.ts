// Failover of a kvm guest on drbd disks between two nodes (network
// namespaces joined by a bridge), on real QEMU/tcg and storage daemons:
// time from the failover job's submission to its success, and on to the
// guest's ready line on the new node. Rounds go back and forth.
// `node dist/bench/drbd-failover.js` (also part of `npm run bench`).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../test/helpers/cluster.ts';
import { createHosts } from '../test/helpers/netns.ts';
import { READY, killByPidfiles, testGuest } from '../test/helpers/guest.ts';
import { pct, sleep, tsMs } from './lib.ts';

export interface FailoverSample { jobMs: number; readyMs: number }

export async function benchDrbdFailover(rounds = 4, log: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<FailoverSample[]> {
  const g = await testGuest();
  const hosts = await createHosts(2);
  const nodes = ['bench-a.example.com', 'bench-b.example.com'];
  const c = await startCluster({ RAPID_HYPERVISORS: 'kvm,fake', RAPID_KVM_ACCEL: 'tcg' });
  const name = 'bench-drbd.example.com';
  const samples: FailoverSample[] = [];
  try {
    for (const [i, n] of nodes.entries()) await c.addNode(n, hosts.ips[i]!, { netns: hosts.names[i], env: { RAPID_KVM_ACCEL: 'tcg' } });
    const ok = async (method: string, p: string, body: unknown) => {
      const job = await c.job(method, p, { body });
      if (job.status !== 'success') throw new Error(`${method} ${p}: ${JSON.stringify(job.opresult)}`);
      return job;
    };
    await ok('POST', '/2/instances', {
      __version__: 1, mode: 'create', name, os: 'noop', disk_template: 'drbd', pnode: nodes[0], snode: nodes[1],
      disks: [{ size: 64 }], nics: [], name_check: false, ip_check: false, start: true, ignore_ipolicy: true, hypervisor: 'kvm',
      beparams: { memory: 128, vcpus: 1 },
      hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/vda', kernel_args: 'ro quiet', serial_console: true },
    });
    const serialLog = (node: string) => path.join(c.nodeDataDir(node)!, 'kvm', 'log', `${name}.serial.log`);
    const readies = (node: string) => (existsSync(serialLog(node)) ? readFileSync(serialLog(node), 'latin1').split(READY).length - 1 : 0);
    for (let r = 0; r < rounds; r++) {
      const to = nodes[(r + 1) % 2]!;
      log(`.. drbd failover ${r + 1}/${rounds} → ${to}`);
      const before = readies(to);
      const job = await ok('PUT', `/2/instances/${name}/failover`, {});
      const end = tsMs(job.end_ts);
      for (let i = 0; readies(to) <= before; i++) {
        if (i > 6000) throw new Error('the guest did not get ready after the failover');
        await sleep(10);
      }
      samples.push({ jobMs: end - tsMs(job.received_ts), readyMs: Date.now() - tsMs(job.received_ts) });
    }
    await ok('DELETE', `/2/instances/${name}`, undefined);
  } finally {
    const dirs = nodes.map((n) => c.nodeDataDir(n)).filter((d): d is string => !!d);
    await c.stop();
    for (const d of dirs) {
      killByPidfiles(path.join(d, 'kvm', 'pid'));
      killByPidfiles(path.join(d, 'kvm', 'disk'), (f) => f.endsWith('.pid'));
    }
    await hosts.destroy();
  }
  return samples;
}

export function printDrbdFailover(s: FailoverSample[], out: (s: string) => void = (x) => process.stdout.write(`${x}\n`)): void {
  const f = (v: number[]) => `${Math.round(pct(v, 50))} / ${Math.round(Math.max(...v))} ms`;
  out('');
  out(`drbd failover of a kvm guest between two namespaced nodes (p50 / max of ${s.length})`);
  out(`  failover job, submit → success        ${f(s.map((x) => x.jobMs))}`);
  out(`  submit → guest ready on the new node  ${f(s.map((x) => x.readyMs))}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  benchDrbdFailover(Number(process.env.BENCH_FAILOVER_ROUNDS || 4)).then((r) => printDrbdFailover(r), (err) => {
    console.error('bench drbd-failover:', err);
    process.exit(1);
  });
}
