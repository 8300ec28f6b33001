// Replicated ("drbd") disks on real qemu-storage-daemons: two nodes, each in
// its own network namespace behind a bridge, so replication crosses veth.
// No guest: qemu-io writes through the primary's VM export, and the test
// reads the secondary's image file directly.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { processAlive } from '../hypervisor/kvm.ts';
import { qsdPid } from '../hypervisor/qsd.ts';
import { LDS_OKAY, ReplicatedDisks, ReplicationError, vmBlockdev, type DrbdDiskSpec, type ReplicatedDiskStatus } from '../hypervisor/replication.ts';
import type { MirrorJob } from '../hypervisor/replication-daemon.ts';
import { decodeRecord, encodeRecord, RECORD_SIZE } from '../hypervisor/replication-meta.ts';
import { describe } from '../hypervisor/replication-status.ts';
import { createHosts, type Hosts } from './helpers/netns.ts';
import { recordPid, repoRoot, tempDir, unrecordPid } from './helpers/pids.ts';

const MiB = 2 ** 20;
const UUID = '5c1e0a7e-8d2b-4f3a-9c6d-1e2f3a4b5c6d';
const PORT = 11007;

interface Node {
  m: ReplicatedDisks;
  dataDir: string;
  runDir: string;
  spec: DrbdDiskSpec;
  image: string;
}

interface Pair {
  hosts: Hosts;
  nodes: [Node, Node];
  /** A fresh manager for node i (the old one is released or gone). */
  manager(i: number): ReplicatedDisks;
  /** qemu-io on node `via`, against node `on`'s VM export. */
  write(via: number, on: number, pattern: number, offset: number, length: number): Promise<{ code: number; stderr: string }>;
  read(i: number, offset: number, length: number): Buffer;
  pid(i: number): number | null;
  /** Records a storage daemon started elsewhere (killed and unrecorded at teardown). */
  record(pid: number): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function daemonRecorder(t: ExecutionContext) {
  const pids = new Set<number>();
  t.teardown(() => {
    for (const pid of pids) {
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
      unrecordPid(pid);
    }
  });
  return (pid: number) => {
    if (pids.has(pid)) return;
    pids.add(pid);
    recordPid(pid, 'qemu-storage-daemon');
  };
}

async function pair(t: ExecutionContext, sizeMiB = 64, resyncRate = 0): Promise<Pair> {
  const hosts = await createHosts(2);
  t.teardown(() => hosts.destroy());
  const record = daemonRecorder(t);
  const root = tempDir('rq-');
  const managers: ReplicatedDisks[] = [];
  t.teardown(() => Promise.all(managers.map((m) => m.release())));
  const node = (i: number): Node => {
    const dataDir = path.join(root, `n${i}`, 'data');
    const runDir = path.join(root, `n${i}`, 'run');
    const spec: DrbdDiskSpec = { uuid: UUID, size: sizeMiB, port: PORT, localIp: hosts.ips[i]!, peerIp: hosts.ips[1 - i]!, resyncRate };
    return { m: undefined as unknown as ReplicatedDisks, dataDir, runDir, spec, image: path.join(dataDir, `${UUID}.img`) };
  };
  const nodes: [Node, Node] = [node(0), node(1)];
  const p: Pair = {
    hosts, nodes,
    manager(i) {
      const n = nodes[i]!;
      n.m = new ReplicatedDisks({ dataDir: n.dataDir, runDir: n.runDir, netns: hosts.names[i], tickMs: 200, verifyMs: 300, onDaemon: record });
      managers.push(n.m);
      return n.m;
    },
    async write(via, on, pattern, offset, length) {
      const n = nodes[on]!;
      const uri = `nbd://${n.spec.localIp}:${PORT}/${UUID}.vm`;
      const r = await hosts.exec(via, ['qemu-io', '-f', 'raw', '-c', `write -P ${pattern} ${offset} ${length}`, uri]);
      return { code: r.code, stderr: r.stderr.trim() };
    },
    read(i, offset, length) {
      const fd = fs.openSync(nodes[i]!.image, 'r');
      try {
        const b = Buffer.alloc(length);
        fs.readSync(fd, b, 0, length, offset);
        return b;
      } finally {
        fs.closeSync(fd);
      }
    },
    pid: (i) => qsdPid(nodes[i]!.runDir, UUID),
    record,
  };
  p.manager(0);
  p.manager(1);
  return p;
}

/** Both nodes assembled, node 0 primary, in sync. */
async function synced(t: ExecutionContext, sizeMiB = 64): Promise<Pair> {
  const p = await pair(t, sizeMiB);
  const [a, b] = p.nodes;
  await a.m.create(a.spec);
  await b.m.create(b.spec);
  await b.m.assemble(b.spec, { primary: false });
  await a.m.assemble(a.spec, { primary: true, force: true });
  await a.m.waitInSync(UUID, 20_000);
  return p;
}

const filled = (pattern: number, n: number) => Buffer.alloc(n, pattern);

function sameFiles(t: ExecutionContext, p: Pair, msg: string): void {
  const [a, b] = [fs.readFileSync(p.nodes[0].image), fs.readFileSync(p.nodes[1].image)];
  t.is(a.length, b.length, `${msg}: sizes`);
  t.true(a.equals(b), `${msg}: contents`);
}

function connected(t: ExecutionContext, s: ReplicatedDiskStatus | null, role: 'Primary' | 'Secondary'): void {
  t.like(s, { role, cstate: 'Connected', ldisk: 'UpToDate', is_degraded: false, ldisk_status: LDS_OKAY, sync_percent: null });
}

test.serial('every acknowledged write is already on the secondary; status on both nodes; remove leaves nothing', async (t) => {
  const p = await synced(t);
  const [a, b] = p.nodes;
  connected(t, await a.m.status(UUID), 'Primary');
  connected(t, await b.m.status(UUID), 'Secondary');
  const sa = (await a.m.status(UUID))!;
  t.like(sa, { rdisk: 'UpToDate', resync: null, out_of_sync: 0, size: 64 * MiB, open: true, major: 147, minor: PORT - 11000 });
  t.is(sa.dev_path, `nbd://${a.spec.localIp}:${PORT}/${UUID}.vm`);
  t.is((await b.m.status(UUID))!.generation, sa.generation, 'in sync: both copies carry one generation');

  for (let i = 0; i < 12; i++) {
    const off = i * 5 * MiB + 512 * i; // unaligned too
    const w = await p.write(0, 0, i + 1, off, 4096);
    t.is(w.code, 0, w.stderr);
    t.true(p.read(1, off, 4096).equals(filled(i + 1, 4096)), `write ${i} is on the secondary when acknowledged`);
  }
  // A secondary cannot be opened by a VM, and nothing but the primary writes into it.
  const onSecondary = await p.write(1, 1, 0xee, 0, 4096);
  t.not(onSecondary.code, 0, 'no VM export on the secondary');
  t.not((await p.hosts.exec(1, ['qemu-io', '-f', 'raw', '-c', 'read 0 4k', `nbd://${a.spec.localIp}:${PORT}/${UUID}`])).code, 0,
    'no replication export on the primary');
  sameFiles(t, p, 'after the writes');

  const pids = [p.pid(0)!, p.pid(1)!];
  await a.m.remove(UUID);
  await b.m.remove(UUID);
  for (const pid of pids) t.false(processAlive(pid), `storage daemon ${pid} is gone`);
  for (const n of p.nodes) {
    t.deepEqual(fs.readdirSync(n.dataDir), [], 'no data or meta file left');
    t.deepEqual(fs.readdirSync(path.join(n.runDir, 'disk')), [], 'no pidfile, socket or log left');
  }
  t.is(await a.m.status(UUID).catch((e: Error) => e.constructor), ReplicationError);
});

test.serial('a peer that joins late gets a full resync, with progress on both nodes', async (t) => {
  const p = await pair(t, 64, 8 * 1024); // 8 MiB/s, so the resync is slow enough to watch
  const [a, b] = p.nodes;
  await a.m.create(a.spec);
  await b.m.create(b.spec);
  const alone = await a.m.assemble(a.spec, { primary: true, force: true });
  t.like(alone, { role: 'Primary', cstate: 'WFConnection', is_degraded: true, ldisk: 'UpToDate' }, 'no peer yet');
  t.truthy(alone.error, 'the failed connect is reported');
  t.is((await p.write(0, 0, 0x5a, 0, 12 * MiB)).code, 0, 'a StandAlone primary takes writes');

  await b.m.assemble(b.spec, { primary: false });
  const { sync } = await a.m.attachNet(UUID);
  t.is(sync, 'full');
  let sawSource: ReplicatedDiskStatus | undefined;
  let sawTarget: ReplicatedDiskStatus | undefined;
  for (let i = 0; i < 100 && !(sawSource && sawTarget); i++) {
    const s = (await a.m.status(UUID))!;
    if (s.cstate === 'SyncSource' && s.sync_percent! > 0) sawSource ??= s;
    const sb = (await b.m.status(UUID))!;
    if (sb.cstate === 'SyncTarget' && sb.sync_percent! > 0) sawTarget ??= sb;
    await sleep(100);
  }
  t.like(sawSource, { rdisk: 'Inconsistent', resync: 'full', is_degraded: true, ldisk_status: LDS_OKAY });
  t.true(sawSource!.sync_percent! < 100 && sawSource!.out_of_sync > 0);
  t.like(sawTarget, { ldisk: 'Inconsistent', ldisk_status: 2, is_degraded: true }, 'the secondary sees the resync too');
  const done = await a.m.drbdWaitSync([UUID]);
  t.true(done.minResync <= 100);
  await a.m.waitInSync(UUID, 20_000);
  connected(t, await b.m.status(UUID), 'Secondary');
  t.true(p.read(1, 12 * MiB - 4096, 4096).equals(filled(0x5a, 4096)));
  sameFiles(t, p, 'after the full resync');
});

test.serial('peer killed -9: the primary writes on, then resyncs only what changed', async (t) => {
  const p = await synced(t);
  const [a, b] = p.nodes;
  const gen = (await a.m.status(UUID))!.generation;

  // Killed and back with nothing written meanwhile: unproven until the primary confirms it.
  process.kill(p.pid(1)!, 'SIGKILL');
  await sleep(100);
  t.like(await b.m.assemble(b.spec, { primary: false }), { ldisk: 'Consistent', is_degraded: true, ldisk_status: 3, generation: gen });
  let confirmed: ReplicatedDiskStatus | null = null;
  for (let i = 0; i < 50 && confirmed?.ldisk !== 'UpToDate'; i++) {
    await sleep(100);
    confirmed = await b.m.status(UUID);
  }
  t.like(confirmed, { ldisk: 'UpToDate', generation: gen }, 'the primary confirms the same generation');

  process.kill(p.pid(1)!, 'SIGKILL');
  await sleep(100);
  for (let i = 0; i < 3; i++) {
    const w = await p.write(0, 0, 0x70 + i, (10 + 7 * i) * MiB, 64 * 1024);
    t.is(w.code, 0, `write ${i} succeeds without the peer: ${w.stderr}`);
  }
  const lost = (await a.m.status(UUID))!;
  t.like(lost, { cstate: 'WFConnection', rdisk: 'Outdated', is_degraded: true, ldisk: 'UpToDate', ldisk_status: LDS_OKAY });
  t.true(lost.out_of_sync >= 3 * 64 * 1024 && lost.out_of_sync <= 3 * 128 * 1024, `only the changed blocks are out of sync (${lost.out_of_sync})`);
  t.false(p.read(1, 10 * MiB, 4096).equals(filled(0x70, 4096)), 'not on the lost peer');

  // The peer's node restarts its daemon on the same copy; the primary reconnects by itself.
  t.is((await b.m.status(UUID)), null, 'the killed disk is not assembled');
  await b.m.assemble(b.spec, { primary: false });
  const s = await a.m.waitInSync(UUID, 20_000);
  t.like(s, { last_sync: 'incremental', rdisk: 'UpToDate' });
  t.not(s.generation, gen, 'a finished resync starts a new generation');
  t.is((await b.m.status(UUID))!.generation, s.generation);
  sameFiles(t, p, 'after the incremental resync');
  t.is((await p.write(0, 0, 0x33, 0, 4096)).code, 0);
  t.true(p.read(1, 0, 4096).equals(filled(0x33, 4096)), 'replication goes on synchronously');
});

test.serial('role swap: demote, promote the peer, which replicates back without a resync', async (t) => {
  const p = await synced(t);
  const [a, b] = p.nodes;
  t.is((await p.write(0, 0, 0x11, 0, MiB)).code, 0);
  const gen = (await a.m.status(UUID))!.generation;
  const refused = await t.throwsAsync(b.m.promote(UUID), { instanceOf: ReplicationError });
  t.regex(refused!.message, /still replicates into this copy/);

  // Live migration's dual-primary window: the target opens while the source still replicates.
  t.like(await b.m.promote(UUID, { multimaster: true }), { role: 'Secondary', open: true, cstate: 'Connected' });
  t.like(await a.m.demote(UUID), { role: 'Secondary', open: false });
  const sb = await b.m.promote(UUID);
  t.like(sb, { role: 'Primary', open: true, last_sync: 'none', cstate: 'Connected', is_degraded: false, generation: gen });
  connected(t, await a.m.status(UUID), 'Secondary');

  const w = await p.write(1, 1, 0x22, 3 * MiB, 8192);
  t.is(w.code, 0, w.stderr);
  t.true(p.read(0, 3 * MiB, 8192).equals(filled(0x22, 8192)), 'the new primary replicates to the old one');
  t.not((await p.write(0, 0, 0x44, 0, 4096)).code, 0, 'the old primary is closed for VMs');
  sameFiles(t, p, 'after the swap');

  // A VM write on the old primary after demotion is impossible; one on a
  // dual-primary secondary that then closes makes it Outdated: full resync.
  await b.m.demote(UUID);
  await a.m.promote(UUID, { multimaster: true });
  t.is((await p.write(0, 0, 0x55, 5 * MiB, 4096)).code, 0, 'dual-primary: the open secondary takes a VM write');
  await a.m.demote(UUID);
  t.like(await a.m.status(UUID), { ldisk: 'Outdated', is_degraded: true });
  const back = await b.m.promote(UUID);
  t.is(back.last_sync, 'full', 'copies that may differ are never assumed identical');
  await b.m.waitInSync(UUID, 20_000);
  sameFiles(t, p, 'after the full resync of the outdated copy');
});

/** A long-lived NBD client with the VM's options (vmBlockdev), driven like qemu-io's prompt. */
async function vmClient(t: ExecutionContext, p: Pair, i: number) {
  const o = vmBlockdev(p.nodes[i]!.spec);
  const opts = `driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=${o.server.host},file.server.port=${o.server.port},file.export=${o.export},file.reconnect-delay=${o['reconnect-delay']}`;
  const io = spawn('ip', ['netns', 'exec', p.hosts.names[i]!, 'qemu-io', '--image-opts', opts], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = io.pid!;
  t.teardown(() => { io.kill('SIGKILL'); unrecordPid(pid); });
  recordPid(pid, 'qemu-io');
  let buf = '';
  io.stdout.on('data', (d: Buffer) => { buf += d.toString(); });
  io.stderr.on('data', (d: Buffer) => { buf += d.toString(); });
  return async (command: string): Promise<string> => {
    buf = '';
    io.stdin.write(command + '\n');
    for (let n = 0; n < 600 && !/ops\/sec|error|fail/i.test(buf); n++) await sleep(50);
    return buf.trim();
  };
}

test.serial('grow: backing files on both nodes, then the device; a connected VM rides through, the new end is replicated', async (t) => {
  const p = await synced(t, 32);
  const [a, b] = p.nodes;
  const vm = await vmClient(t, p, 0);
  t.regex(await vm('write -P 0x61 0 4k'), /wrote 4096/);
  t.is(await a.m.grow(UUID, 16, { dryRun: true, backingStore: true }), 48 * MiB);
  t.is(fs.statSync(a.image).size, 32 * MiB, 'a dry run changes nothing');
  for (const n of [a, b]) t.is(await n.m.grow(UUID, 16, { dryRun: false, backingStore: true }), 48 * MiB);
  t.is((await b.m.status(UUID))!.size, 48 * MiB, 'the secondary daemon shows the new size at once');
  // The secondary's export was recreated: to the primary a short peer loss.
  t.regex(await vm('write -P 0x62 4096 4k'), /wrote 4096/);
  t.is(await a.m.grow(UUID, 16, { dryRun: false, backingStore: false }), 48 * MiB);
  t.regex(await vm('write -P 0x63 8192 4k'), /wrote 4096/, 'the VM reconnects to the recreated export');
  const s = await a.m.waitInSync(UUID, 20_000);
  t.like(s, { size: 48 * MiB, last_sync: 'none' }, 'no full resync for a grow');
  t.true(p.read(1, 0, 12288).equals(Buffer.concat([filled(0x61, 4096), filled(0x62, 4096), filled(0x63, 4096)])), 'every VM write is on the secondary');
  t.is(fs.statSync(a.image).size, 48 * MiB);
  t.is(fs.statSync(b.image).size, 48 * MiB);
  const w = await p.write(0, 0, 0x66, 48 * MiB - 4096, 4096);
  t.is(w.code, 0, w.stderr);
  t.true(p.read(1, 48 * MiB - 4096, 4096).equals(filled(0x66, 4096)), 'a write in the new area is replicated');
  await t.throwsAsync(a.m.grow(UUID, -1, { dryRun: true, backingStore: true }), { instanceOf: ReplicationError });
});

test.serial('shutdown keeps the pair in sync across restarts; a crashed primary resyncs in full', async (t) => {
  const p = await synced(t);
  const [a, b] = p.nodes;
  t.is((await p.write(0, 0, 0x42, MiB, 4096)).code, 0);
  const gen = (await a.m.status(UUID))!.generation;
  await a.m.shutdown(UUID);
  await b.m.shutdown(UUID);
  t.is(p.pid(0), null);
  t.is(await a.m.status(UUID), null, 'a shut-down disk is not assembled');
  await b.m.assemble(b.spec, { primary: false });
  t.like(await a.m.assemble(a.spec, { primary: true }), { last_sync: 'none', cstate: 'Connected', generation: gen });

  process.kill(p.pid(0)!, 'SIGKILL');
  await sleep(100);
  const again = await a.m.assemble(a.spec, { primary: true });
  t.is(again.last_sync, 'full', 'after an unclean stop the primary may hold writes the peer lacks');
  t.not(again.generation, gen);
  await a.m.waitInSync(UUID, 20_000);
  sameFiles(t, p, 'after the crash resync');
});

test.serial('a new manager adopts the daemons of one killed -9; the mirror never stops', async (t) => {
  const p = await pair(t);
  const [a, b] = p.nodes;
  await p.manager(0).release(); // the child owns node 0 first
  const mod = pathToFileURL(path.join(repoRoot, 'dist/hypervisor/replication.js')).href;
  const code = `
    const { ReplicatedDisks } = await import(${JSON.stringify(mod)});
    const [spec, dataDir, runDir, ns] = JSON.parse(process.argv[1]);
    const m = new ReplicatedDisks({ dataDir, runDir, netns: ns, onDaemon: (pid) => console.log('DAEMON ' + pid) });
    await m.create(spec);
    await m.assemble(spec, { primary: true, force: true });
    await m.waitInSync(spec.uuid, 20000);
    console.log('READY');
    setInterval(() => {}, 1000);`;
  await b.m.create(b.spec);
  await b.m.assemble(b.spec, { primary: false });
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, JSON.stringify([a.spec, a.dataDir, a.runDir, p.hosts.names[0]])], { stdio: ['ignore', 'pipe', 'inherit'] });
  recordPid(child.pid!, '--input-type=module');
  t.teardown(() => { child.kill('SIGKILL'); unrecordPid(child.pid!); });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const m of out.matchAll(/DAEMON (\d+)/g)) p.record(Number(m[1]));
      if (out.includes('READY')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`manager child exited (${c}): ${out}`)));
  });
  const daemon = p.pid(0);
  t.truthy(daemon);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const m2 = p.manager(0);
  const t0 = performance.now();
  t.deepEqual(await m2.adopt(), [UUID]);
  const t1 = performance.now();
  const s = (await m2.status(UUID))!;
  t.log(`adopted in ${(t1 - t0).toFixed(1)} ms; first status (checks the peer's record) ${(performance.now() - t1).toFixed(1)} ms`);
  connected(t, s, 'Primary');
  t.is(p.pid(0), daemon, 'the same daemon, never restarted');
  t.is((await p.write(0, 0, 0x77, 2 * MiB, 4096)).code, 0);
  t.true(p.read(1, 2 * MiB, 4096).equals(filled(0x77, 4096)), 'still replicating synchronously');
  await m2.remove(UUID);
  t.false(processAlive(daemon!));
});

test.serial('planned StandAlone: reconnecting skips the resync unless the VM wrote; two primaries never replicate into each other', async (t) => {
  const p = await synced(t);
  const [a, b] = p.nodes;
  t.like(await a.m.disconnectNet(UUID), { cstate: 'StandAlone', is_degraded: true, ldisk: 'UpToDate' });
  t.is((await a.m.attachNet(UUID)).sync, 'none');
  await a.m.disconnectNet(UUID);
  t.is((await p.write(0, 0, 0x21, 7 * MiB, 4096)).code, 0);
  t.is((await a.m.attachNet(UUID)).sync, 'full', 'a write while StandAlone forces a full resync');
  await a.m.waitInSync(UUID, 20_000);
  t.true(p.read(1, 7 * MiB, 4096).equals(filled(0x21, 4096)));

  // Split brain: with the link down, the secondary is made primary too. A primary exports
  // nothing to replicate into, so neither overwrites the other.
  await a.m.disconnectNet(UUID);
  t.like(await b.m.promote(UUID), { role: 'Primary', cstate: 'WFConnection', is_degraded: true });
  const err = await t.throwsAsync(a.m.attachNet(UUID), { instanceOf: ReplicationError });
  t.regex(err!.message, /unreachable or not secondary/);
  t.like(await a.m.status(UUID), { role: 'Primary', cstate: 'WFConnection', is_degraded: true });
  t.true(p.read(1, 7 * MiB, 4096).equals(filled(0x21, 4096)));
});

test('status mapping follows Ganeti\'s DRBD8Dev.GetSyncStatus', (t) => {
  const meta = {
    uuid: UUID, sizeBytes: MiB, port: 11005, localIp: '10.0.0.1', peerIp: '10.0.0.2', resyncRate: 0, role: 'primary' as const,
    open: true, connected: true, peerGeneration: 'g', resync: null, lastSync: 'full' as const, clean: false, bootId: 'b',
  };
  const own = { generation: 'g', disk: 'UpToDate' as const, by: 'self', at: 0 };
  const base = { own, size: MiB, error: 'x', linkDown: false, receiving: false, peerIn: false };
  const job = (j: Partial<MirrorJob>): MirrorJob => ({ device: 'repl', status: 'ready', ready: true, paused: false, 'io-status': 'ok', offset: 100, len: 100, ...j });
  t.like(describe(meta, { ...base, job: job({}) }, {}), {
    cstate: 'Connected', rdisk: 'UpToDate', is_degraded: false, ldisk_status: LDS_OKAY, sync_percent: null, error: null,
    minor: 5, dev_path: `nbd://10.0.0.1:11005/${UUID}.vm`, last_sync: 'full',
  });
  t.like(describe(meta, { ...base, job: job({ status: 'running', ready: false, offset: 25 }) }, {}), {
    cstate: 'SyncSource', rdisk: 'Inconsistent', is_degraded: true, ldisk_status: LDS_OKAY, sync_percent: 25, out_of_sync: 75,
  });
  t.like(describe(meta, { ...base, job: job({ status: 'standby', paused: true, 'io-status': 'failed', len: 300 }) }, {}), {
    cstate: 'WFConnection', rdisk: 'Outdated', is_degraded: true, out_of_sync: 200, error: 'x',
  });
  t.like(describe(meta, { ...base, job: job({}), linkDown: true }, {}), { cstate: 'WFConnection', is_degraded: true });
  t.like(describe({ ...meta, connected: false }, { ...base, job: null }, {}), { cstate: 'StandAlone', rdisk: 'DUnknown' });
  const sec = { ...meta, role: 'secondary' as const, open: false };
  t.like(describe(sec, { ...base, job: null, receiving: true, peerIn: true }, {}), { cstate: 'Connected', is_degraded: false, role: 'Secondary', last_sync: null });
  t.like(describe(sec, { ...base, own: { ...own, disk: 'Inconsistent', syncPercent: 40 }, job: null, receiving: true, peerIn: true }, {}),
    { cstate: 'SyncTarget', sync_percent: 40, ldisk_status: 2, is_degraded: true });
  t.like(describe(sec, { ...base, own: { ...own, disk: 'Consistent' }, job: null, receiving: true, peerIn: false }, {}),
    { cstate: 'WFConnection', ldisk_status: 3, is_degraded: true });
  t.like(describe(sec, { ...base, job: null }, {}), { cstate: 'StandAlone' });
});

test('copy records are one zero-padded block; anything else reads as none', (t) => {
  const r = { generation: 'abc', disk: 'UpToDate' as const, syncPercent: 12.5, by: '10.0.0.1', at: 1 };
  const block = encodeRecord(r);
  t.is(block.length, RECORD_SIZE);
  t.deepEqual(decodeRecord(block), r);
  t.is(decodeRecord(Buffer.alloc(RECORD_SIZE)), null);
  t.is(decodeRecord(Buffer.from('{"generation": "x", "disk"')), null, 'torn');
  t.is(decodeRecord(Buffer.from('{"foo": 1}')), null);
});
