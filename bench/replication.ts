// Replicated ("drbd") disk benchmark: what synchronous replication costs a
// writer, and how fast a peer catches up. Two nodes in network namespaces
// behind a bridge (as in test/replication.test.ts), real storage daemons,
// qemu-img bench as the VM: 4 KiB writes at queue depth 1 through the
// disk's VM export (NBD over TCP), once with the disk StandAlone (the same
// daemon and NBD path, no peer) and once replicating, alternately, medians.
//
//   node dist/bench/replication.js          (root; needs ip netns)
//   import { benchReplication, printReplicationBench } from './replication.ts'
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { processAlive } from '../hypervisor/kvm.ts';
import { qsdPid } from '../hypervisor/qsd.ts';
import { ReplicatedDisks, vmNbdUri, type DrbdDiskSpec, type ReplicationOptions } from '../hypervisor/replication.ts';
import { createHosts, type Hosts } from '../test/helpers/netns.ts';
import { recordPid, tempDir, unrecordPid } from '../test/helpers/pids.ts';

const execFileP = promisify(execFile);
const MiB = 2 ** 20;
const PORT = 11900;

export interface ReplicationBenchOptions {
  /** 4 KiB writes per latency sample. */
  writes?: number;
  /** Alternating unreplicated/replicated samples per variant. */
  rounds?: number;
  /** Data written before the full resync is timed. */
  resyncMiB?: number;
  /** Data changed while the peer is down, before the incremental resync. */
  dirtyMiB?: number;
  progress?: (s: string) => void;
}

export interface LatencyRow {
  variant: string;
  /** µs per 4 KiB write, medians. */
  unreplicated: number;
  replicated: number;
  ratio: number;
}

export interface ReplicationBenchResult {
  /** µs per 4 KiB write on a plain local file (no daemon, no NBD): the floor. */
  plainFile: number;
  latency: LatencyRow[];
  fullResync: { mib: number; seconds: number; mbPerSec: number };
  /** seconds: copying only (from the resumed link to in sync); reconnectSeconds: from the peer's restart to the resumed link. */
  incrementalResync: { mib: number; seconds: number; mbPerSec: number; outOfSyncMiB: number; reconnectSeconds: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** qemu-img bench: µs per write, from its own timing (no process start-up in it). */
async function qemuImgBench(hosts: Hosts | null, target: string, writes: number): Promise<number> {
  const argv = ['qemu-img', 'bench', '-w', '-c', String(writes), '-d', '1', '-s', '4096', '-t', 'writeback', '-f', 'raw', target];
  const r = hosts ? await hosts.exec(0, argv) : await execFileP(argv[0]!, argv.slice(1)).then((o) => ({ code: 0, stdout: o.stdout, stderr: '' }));
  const m = /Run completed in ([\d.]+) seconds/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`qemu-img bench on ${target} failed: ${r.stderr || r.stdout}`);
  return (Number(m[1]) / writes) * 1e6;
}

class Bed {
  readonly root = tempDir('rapid-bench-repl-');
  private pids = new Set<number>();
  private managers: ReplicatedDisks[] = [];

  constructor(readonly hosts: Hosts) {}

  manager(i: number, extra: Partial<ReplicationOptions> = {}): ReplicatedDisks {
    const m = new ReplicatedDisks({
      dataDir: path.join(this.root, `n${i}`, 'data'), runDir: path.join(this.root, `n${i}`, 'run'),
      netns: this.hosts.names[i], tickMs: 500,
      onDaemon: (pid) => { this.pids.add(pid); recordPid(pid, 'qemu-storage-daemon'); },
      ...extra,
    });
    this.managers.push(m);
    return m;
  }

  spec(i: number, uuid: string, sizeMiB: number): DrbdDiskSpec {
    return { uuid, size: sizeMiB, port: PORT, localIp: this.hosts.ips[i]!, peerIp: this.hosts.ips[1 - i]! };
  }

  async write(spec: DrbdDiskSpec, pattern: number, offset: number, length: number): Promise<void> {
    const r = await this.hosts.exec(0, ['qemu-io', '-f', 'raw', '-c', `write -P ${pattern} ${offset} ${length}`, vmNbdUri(spec)]);
    if (r.code !== 0) throw new Error(`qemu-io write failed: ${r.stderr}`);
  }

  pid(i: number, uuid: string): number | null {
    return qsdPid(path.join(this.root, `n${i}`, 'run'), uuid);
  }

  async close(): Promise<void> {
    await Promise.all(this.managers.map((m) => m.release()));
    for (const pid of this.pids) {
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
      unrecordPid(pid);
    }
    await this.hosts.destroy();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A pair on one variant of daemon options: alternating StandAlone / replicating latency samples. */
async function latency(bed: Bed, variant: string, extra: Partial<ReplicationOptions>, writes: number, rounds: number): Promise<LatencyRow> {
  const uuid = `bench-${variant}`;
  const [a, b] = [bed.manager(0, extra), bed.manager(1, extra)];
  const [sa, sb] = [bed.spec(0, uuid, 256), bed.spec(1, uuid, 256)];
  await a.create(sa);
  await b.create(sb);
  await b.assemble(sb, { primary: false });
  await a.assemble(sa, { primary: true, force: true });
  await a.waitInSync(uuid, 60_000);
  const uri = vmNbdUri(sa);
  const unrepl: number[] = [];
  const repl: number[] = [];
  try {
    await qemuImgBench(bed.hosts, uri, Math.min(writes, 500)); // warm-up
    for (let r = 0; r < rounds; r++) {
      await a.disconnectNet(uuid);
      unrepl.push(await qemuImgBench(bed.hosts, uri, writes));
      await a.attachNet(uuid);
      await a.waitInSync(uuid, 60_000, 20);
      repl.push(await qemuImgBench(bed.hosts, uri, writes));
    }
  } finally {
    await a.remove(uuid);
    await b.remove(uuid);
  }
  const [u, rp] = [median(unrepl), median(repl)];
  return { variant, unreplicated: u, replicated: rp, ratio: rp / u };
}

async function resyncs(bed: Bed, o: Required<Omit<ReplicationBenchOptions, 'progress'>>): Promise<Pick<ReplicationBenchResult, 'fullResync' | 'incrementalResync'>> {
  const uuid = 'bench-resync';
  const size = Math.max(512, o.resyncMiB * 2);
  const [a, b] = [bed.manager(0), bed.manager(1)];
  const [sa, sb] = [bed.spec(0, uuid, size), bed.spec(1, uuid, size)];
  await a.create(sa);
  await b.create(sb);
  try {
    await a.assemble(sa, { primary: true, force: true });
    await a.disconnectNet(uuid);
    await bed.write(sa, 0x5a, 0, o.resyncMiB * MiB);
    await b.assemble(sb, { primary: false });
    let t0 = performance.now();
    await a.attachNet(uuid);
    await a.waitInSync(uuid, 300_000, 10);
    const fullS = (performance.now() - t0) / 1000;

    // Peer loss, then changes spread over the disk, then the peer's daemon comes back.
    process.kill(bed.pid(1, uuid)!, 'SIGKILL');
    const chunk = MiB;
    for (let off = 0, n = 0; n < o.dirtyMiB; off += Math.floor(size / o.dirtyMiB) * MiB, n++) await bed.write(sa, 0x6b, off, chunk);
    const out = (await a.status(uuid))!.out_of_sync;
    await b.assemble(sb, { primary: false });
    t0 = performance.now();
    const { sync } = await a.attachNet(uuid);
    if (sync !== 'incremental') throw new Error(`expected an incremental resync, got ${sync}`);
    // QEMU's NBD client reconnects on its own schedule (1, 2, 4… s); the copy starts then.
    for (let s = (await a.status(uuid))!; s.cstate === 'WFConnection'; s = (await a.status(uuid))!) await sleep(10);
    const t1 = performance.now();
    await a.waitInSync(uuid, 300_000, 10);
    const incS = (performance.now() - t1) / 1000;
    return {
      fullResync: { mib: o.resyncMiB, seconds: fullS, mbPerSec: (o.resyncMiB * MiB) / 1e6 / fullS },
      incrementalResync: { mib: o.dirtyMiB, seconds: incS, mbPerSec: (o.dirtyMiB * MiB) / 1e6 / incS, outOfSyncMiB: out / MiB, reconnectSeconds: (t1 - t0) / 1000 },
    };
  } finally {
    await a.remove(uuid);
    await b.remove(uuid);
  }
}

export async function benchReplication(opts: ReplicationBenchOptions = {}): Promise<ReplicationBenchResult> {
  const o = { writes: opts.writes ?? 4000, rounds: opts.rounds ?? 3, resyncMiB: opts.resyncMiB ?? 256, dirtyMiB: opts.dirtyMiB ?? 16 };
  const progress = opts.progress ?? (() => {});
  const bed = new Bed(await createHosts(2));
  try {
    progress('replication: plain file baseline');
    const file = path.join(bed.root, 'plain.img');
    await execFileP('qemu-img', ['create', '-q', '-f', 'raw', file, '256M']);
    const plain: number[] = [];
    for (let i = 0; i < o.rounds; i++) plain.push(await qemuImgBench(null, file, o.writes));
    const plainFile = median(plain);
    const rows: LatencyRow[] = [];
    for (const [variant, extra] of [['threads', {}], ['io_uring', { aio: 'io_uring' }], ['durable', { durable: true }]] as const) {
      progress(`replication: 4 KiB write latency, ${variant}`);
      rows.push(await latency(bed, variant, extra, o.writes, o.rounds));
    }
    progress('replication: resync throughput');
    return { plainFile, latency: rows, ...(await resyncs(bed, o)) };
  } finally {
    await bed.close();
  }
}

export function printReplicationBench(r: ReplicationBenchResult, out: (s: string) => void = (s) => process.stdout.write(s + '\n')): void {
  const f0 = (n: number) => n.toFixed(0);
  const rows = [
    ['plain local file (no daemon, no NBD)', f0(r.plainFile), '', ''],
    ...r.latency.map((l) => [`QSD/NBD, aio ${l.variant === 'durable' ? 'threads, secondary writethrough' : l.variant}`, f0(l.unreplicated), f0(l.replicated), `${l.ratio.toFixed(2)}×`]),
  ];
  table(out, 'Replicated disk: 4 KiB write latency, QD1 (qemu-img bench, µs per write, medians)', ['path', 'StandAlone', 'replicated', 'ratio'], rows);
  table(out, 'Replicated disk: resync over veth', ['resync', 'MiB', 'seconds', 'MB/s'], [
    ['full (peer joins late)', String(r.fullResync.mib), r.fullResync.seconds.toFixed(2), r.fullResync.mbPerSec.toFixed(0)],
    [`incremental (peer killed -9, ${r.incrementalResync.mib} × 1 MiB changed, ${r.incrementalResync.outOfSyncMiB.toFixed(1)} MiB out of sync)`,
      String(r.incrementalResync.mib), r.incrementalResync.seconds.toFixed(2), r.incrementalResync.mbPerSec.toFixed(0)],
  ]);
  out(`incremental: the link came back ${r.incrementalResync.reconnectSeconds.toFixed(2)} s after the peer's restart (QEMU's NBD reconnect backoff), then copied`);
  const best = Math.min(...r.latency.filter((l) => l.variant !== 'durable').map((l) => l.ratio));
  out(`\nreplicated / StandAlone, best variant: ${best.toFixed(2)}× (target ≤ 1.5×): ${best <= 1.5 ? 'PASS' : 'MISS'}`);
}

function table(out: (s: string) => void, title: string, head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  out('');
  out(`== ${title}`);
  out(line(head));
  out(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows) out(line(r));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchReplication({ progress: (s) => process.stdout.write(`.. ${s}\n`) })
    .then((r) => printReplicationBench(r))
    .catch((err: Error) => {
      console.error(`bench: ${err.stack ?? err.message}`);
      process.exitCode = 1;
    });
}
