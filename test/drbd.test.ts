// The drbd disk template on real replicas: two nodes, each a node worker in
// its own network namespace (joined through a bridge in a third), so the
// replication really crosses between "hosts". Writes through the primary's
// storage daemon land on the secondary's copy; failover and live migration
// of a real guest (QEMU/tcg) keep the data; a dead primary can be failed
// over with ignore_consistency; removal leaves no daemon and no file.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { createHosts, type Hosts } from './helpers/netns.ts';
import { READY, Serial, killByPidfiles, testGuest } from './helpers/guest.ts';
import { recordPid, unrecordPid } from './helpers/pids.ts';
import { waitForJob } from './helpers/http.ts';
import { processAlive } from '../hypervisor/host.ts';
import { until } from './helpers/until.ts';

const execFileP = promisify(execFile);
const A = 'drbd-a.example.com';
const B = 'drbd-b.example.com';
const C = 'drbd-c.example.com';
const MIB = 2 ** 20;

let hosts: Hosts;
let c: TestCluster;
const NS: Record<string, string> = {};
const IP: Record<string, string> = {};
const ENV = { RAPID_KVM_ACCEL: 'tcg', RAPID_KVM_TCG_LIVE_MIGRATION: '1' };

test.before(async (t) => {
  t.timeout(300_000);
  await testGuest();
  hosts = await createHosts(3);
  [NS[A], NS[B], NS[C]] = hosts.names;
  [IP[A], IP[B], IP[C]] = hosts.ips;
  c = await startCluster({ RAPID_HYPERVISORS: 'fake,kvm', RAPID_KVM_ACCEL: 'tcg' });
  for (const n of [A, B, C]) await c.addNode(n, IP[n]!, { netns: NS[n], env: ENV });
});
test.after.always(async () => {
  await c?.stop();
  // Whatever a failed test left: guests and storage daemons of both nodes, by their pidfiles.
  for (const n of [A, B, C]) {
    const dir = c?.nodeDataDir(n);
    if (!dir) continue;
    killByPidfiles(path.join(dir, 'kvm', 'pid'));
    killByPidfiles(path.join(dir, 'kvm', 'disk'), (f) => f.endsWith('.pid'));
  }
  await hosts?.destroy();
});

const get = async (p: string) => (await c.w('GET', p)).json;
async function ok(method: string, p: string, body?: unknown): Promise<any> {
  const job = await c.job(method, p, body === undefined ? {} : { body });
  if (job.status !== 'success') throw new Error(`${method} ${p}: ${job.status} ${JSON.stringify(job.opresult)}`);
  return job;
}

const drbdDir = (node: string) => path.join(c.nodeDataDir(node)!, 'drbd');
const image = (node: string, uuid: string) => path.join(drbdDir(node), `${uuid}.img`);
/** Storage daemons of a node, from their pidfiles. */
function daemons(node: string): number[] {
  const d = path.join(c.nodeDataDir(node)!, 'kvm', 'disk');
  if (!fs.existsSync(d)) return [];
  return fs.readdirSync(d).filter((f) => f.endsWith('.pid'))
    .map((f) => parseInt(fs.readFileSync(path.join(d, f), 'utf8'), 10)).filter((p) => p > 0 && processAlive(p));
}
const sha = (file: string, bytes: number) => createHash('sha256').update(fs.readFileSync(file).subarray(0, bytes)).digest('hex');

async function info(name: string): Promise<any> {
  const job = await ok('GET', `/2/instances/${name}/info`);
  return job.opresult[0][name];
}

test.serial('drbd on the fake hypervisor: replicated writes, status, failover, removal', async (t) => {
  t.timeout(180_000);
  const name = 'drbd1.example.com';
  const job = await ok('POST', '/2/instances', createBody(name, {
    hypervisor: 'fake', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 16 }], ignore_ipolicy: true,
  }));
  const logs = job.oplog[0].map((e: unknown[]) => e[3]);
  t.true(logs.includes(` - INFO: Instance ${name}'s disks are in sync`), JSON.stringify(logs));
  const view = await get(`/2/instances/${name}`);
  t.is(view.pnode, A);
  t.deepEqual(view.snodes, [B]);
  t.is(view.disk_template, 'drbd');

  const i1 = await info(name);
  const disk = i1.disks[0];
  t.is(disk.dev_type, 'drbd');
  t.is(disk.drbd_info.primary_node, A);
  t.is(disk.drbd_info.secondary_node, B);
  t.true(disk.drbd_info.port >= 11000 && disk.drbd_info.port <= 14999);
  t.is(disk.logical_id[5], null, 'the shared secret is not shown');
  // [dev_path, major, minor, sync_percent, estimated_time, is_degraded, ldisk_status]
  t.is(disk.pstatus[3], null, 'in sync');
  t.false(disk.pstatus[5], 'not degraded');
  t.is(disk.pstatus[6], 1, 'LDS_OKAY');
  t.truthy(disk.sstatus);
  t.true(fs.existsSync(image(A, disk.uuid)) && fs.existsSync(image(B, disk.uuid)));
  t.is(daemons(A).length, 1);
  t.is(daemons(B).length, 1);

  // A write through the primary's storage daemon is on the secondary's copy when it returns.
  const uri = `nbd://${IP[A]}:${disk.drbd_info.port}/${disk.uuid}.vm`;
  const w = await hosts.exec(0, ['qemu-io', '-f', 'raw', uri, '-c', 'write -P 0x5a 1M 2M']);
  t.is(w.code, 0, w.stderr);
  const want = createHash('sha256').update(Buffer.alloc(2 * MIB, 0x5a)).digest('hex');
  t.is(createHash('sha256').update(fs.readFileSync(image(B, disk.uuid)).subarray(MIB, 3 * MIB)).digest('hex'), want);

  // Failover: the secondary's copy becomes the primary one.
  const fo = await ok('PUT', `/2/instances/${name}/failover`, {});
  const foLogs = fo.oplog[0].map((e: unknown[]) => e[3]);
  t.true(foLogs.includes('* checking disk consistency between source and target'));
  const v2 = await get(`/2/instances/${name}`);
  t.is(v2.pnode, B);
  t.deepEqual(v2.snodes, [A]);
  const i2 = await info(name);
  t.is(i2.disks[0].drbd_info.primary_node, B);
  t.false(i2.disks[0].pstatus[5], 'the new primary is in sync with the old one');
  const r = await hosts.exec(1, ['qemu-io', '-f', 'raw', `nbd://${IP[B]}:${disk.drbd_info.port}/${disk.uuid}.vm`, '-c', 'read -P 0x5a 1M 2M']);
  t.is(r.code, 0, r.stderr + r.stdout);
  t.notRegex(r.stdout, /Pattern verification failed/);

  await ok('DELETE', `/2/instances/${name}`);
  t.false(fs.existsSync(image(A, disk.uuid)) || fs.existsSync(image(B, disk.uuid)), 'no copy left');
  t.deepEqual([...daemons(A), ...daemons(B)], [], 'no storage daemon left');
});

test.serial('a lost secondary: the primary writes on degraded, the returning secondary gets what it missed', async (t) => {
  t.timeout(180_000);
  const name = 'drbd2.example.com';
  await ok('POST', '/2/instances', createBody(name, {
    hypervisor: 'fake', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 16 }], ignore_ipolicy: true,
  }));
  const disk = (await info(name)).disks[0];
  const uri = `nbd://${IP[A]}:${disk.drbd_info.port}/${disk.uuid}.vm`;

  // Node B goes away: its worker and its storage daemon.
  await c.workers.get(B)!.kill9();
  for (const pid of daemons(B)) process.kill(pid, 'SIGKILL');
  const w = await hosts.exec(0, ['qemu-io', '-f', 'raw', uri, '-c', 'write -P 0x3c 4M 1M']);
  t.is(w.code, 0, `the primary takes writes without its peer: ${w.stderr}`);
  const degraded = await until('the primary to report degraded', async () => {
    const d = (await info(name)).disks[0];
    return d.pstatus?.[5] === true && d;
  }, 30_000);
  t.is(degraded.sstatus, null, 'nothing known of the dead secondary');

  // B returns (same data dir): the pair reconnects and B gets the write it missed.
  await c.addNode(B, IP[B]!, { netns: NS[B], env: ENV });
  await ok('PUT', `/2/instances/${name}/activate-disks`, {});
  await until('the pair to be in sync again', async () => {
    const d = (await info(name)).disks[0];
    return d.pstatus?.[5] === false && d.pstatus?.[3] === null && d.sstatus?.[5] === false;
  }, 60_000);
  const want = createHash('sha256').update(Buffer.alloc(MIB, 0x3c)).digest('hex');
  t.is(createHash('sha256').update(fs.readFileSync(image(B, disk.uuid)).subarray(4 * MIB, 5 * MIB)).digest('hex'), want);
  await ok('DELETE', `/2/instances/${name}`);
  t.deepEqual([...daemons(A), ...daemons(B)], []);
});

test.serial('bad drbd requests get Ganeti\'s errors before anything is made', async (t) => {
  const noSnode = await c.job('POST', '/2/instances', { body: createBody('drbdbad.example.com', { hypervisor: 'fake', disk_template: 'drbd', pnode: A, disks: [{ size: 16 }] }) });
  t.deepEqual(noSnode.opresult[0], ['OpPrereqError', ['The networked disk templates need a mirror node', 'wrong_input']]);
  const same = await c.job('POST', '/2/instances', { body: createBody('drbdbad.example.com', { hypervisor: 'fake', disk_template: 'drbd', pnode: A, snode: A, disks: [{ size: 16 }] }) });
  t.deepEqual(same.opresult[0], ['OpPrereqError', ['The secondary node cannot be the primary node', 'wrong_input']]);
  t.is((await c.w('GET', '/2/instances/drbdbad.example.com')).status, 404);
});

/** The guest writes a pattern to its disk and answers its checksum. */
async function guestSum(serial: Serial, mib: number): Promise<string> {
  const out = await serial.run(`dd if=/dev/vda bs=1M count=${mib} 2>/dev/null | sha256sum`, 120_000);
  return /([0-9a-f]{64})/.exec(out)![1]!;
}

function recordQemu(t: ExecutionContext, node: string, name: string): number {
  const pid = parseInt(fs.readFileSync(path.join(c.nodeDataDir(node)!, 'kvm', 'pid', name), 'utf8'), 10);
  recordPid(pid, name);
  t.teardown(() => { if (processAlive(pid)) process.kill(pid, 'SIGKILL'); unrecordPid(pid); });
  return pid;
}

test.serial('a kvm guest on drbd: live migration keeps its data; after its node dies it fails over with it', async (t) => {
  t.timeout(480_000);
  const g = await testGuest();
  const name = 'drbdvm.example.com';
  await ok('POST', '/2/instances', createBody(name, {
    hypervisor: 'kvm', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 32 }], nics: [], start: true, ignore_ipolicy: true,
    hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/vda', kernel_args: 'ro quiet', serial_console: true },
  }));
  const qemuA = recordQemu(t, A, name);
  const socket = (node: string) => path.join(c.nodeDataDir(node)!, 'kvm', 'ctrl', `${name}.serial`);
  let serial = await Serial.connect(socket(A));
  t.teardown(() => serial.close());
  const log = (node: string) => path.join(c.nodeDataDir(node)!, 'kvm', 'log', `${name}.serial.log`);
  await until('the guest', () => fs.existsSync(log(A)) && fs.readFileSync(log(A), 'utf8').includes(READY), 60_000);
  await serial.run('dd if=/dev/urandom of=/dev/vda bs=1M count=8 conv=fsync 2>/dev/null; sync');
  const before = await guestSum(serial, 8);
  const uuid = (await info(name)).disks[0].uuid;
  t.is(sha(image(B, uuid), 8 * MIB), before, 'the secondary holds what the guest wrote');

  const mig = await ok('PUT', `/2/instances/${name}/migrate`, { mode: 'live' });
  const migLogs = mig.oplog[0].map((e: unknown[]) => e[3]);
  t.true(migLogs.includes('* changing disks into dual-master mode'), JSON.stringify(migLogs));
  t.is((await get(`/2/instances/${name}`)).pnode, B);
  t.false(processAlive(qemuA));
  recordQemu(t, B, name);
  serial.close();
  serial = await Serial.connect(socket(B));
  t.is(await guestSum(serial, 8), before, 'the migrated guest reads its data on B');
  await serial.run('dd if=/dev/urandom of=/dev/vda bs=1M seek=8 count=4 conv=fsync 2>/dev/null; sync');
  const after = await guestSum(serial, 12);
  serial.close();
  t.is(sha(image(A, uuid), 12 * MIB), after, 'B now replicates to A');

  // Node B dies: its worker, its guest and its storage daemons.
  const workerB = c.workers.get(B)!;
  await workerB.kill9();
  for (const pid of [recordQemu(t, B, name), ...daemons(B)]) process.kill(pid, 'SIGKILL');
  await until('B to be seen as down', async () => (await get(`/2/nodes/${B}`)).mfree === null, 30_000);
  const failed = await c.job('PUT', `/2/instances/${name}/failover`, { body: {} });
  t.is(failed.status, 'error', 'not without ignore_consistency');
  await ok('PUT', `/2/instances/${name}/failover`, { ignore_consistency: true });
  t.is((await get(`/2/instances/${name}`)).pnode, A);
  recordQemu(t, A, name);
  serial = await Serial.connect(socket(A));
  await until('the guest on A', () => fs.readFileSync(log(A), 'utf8').split(READY).length >= 3, 60_000);
  t.is(await guestSum(serial, 12), after, 'everything written before B died is there');
  serial.close();

  // B returns; the instance goes, from both nodes.
  await c.addNode(B, IP[B]!, { netns: NS[B], env: ENV });
  await ok('DELETE', `/2/instances/${name}`);
  t.false(fs.existsSync(image(A, uuid)) || fs.existsSync(image(B, uuid)));
  t.deepEqual([...daemons(A), ...daemons(B)], []);
});

test.serial('replace the secondary while the guest writes, then fail over to the new one: the data is intact', async (t) => {
  t.timeout(480_000);
  const g = await testGuest();
  const name = 'drbdrep.example.com';
  await ok('POST', '/2/instances', createBody(name, {
    hypervisor: 'kvm', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 32 }], nics: [], start: true, ignore_ipolicy: true,
    hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/vda', kernel_args: 'ro quiet', serial_console: true },
  }));
  recordQemu(t, A, name);
  const socket = (node: string) => path.join(c.nodeDataDir(node)!, 'kvm', 'ctrl', `${name}.serial`);
  const log = (node: string) => path.join(c.nodeDataDir(node)!, 'kvm', 'log', `${name}.serial.log`);
  await until('the guest', () => fs.existsSync(log(A)) && fs.readFileSync(log(A), 'utf8').includes(READY), 60_000);
  let serial = await Serial.connect(socket(A));
  t.teardown(() => serial.close());
  // A writer in the guest keeps rewriting the first 4 MiB while the secondary moves.
  await serial.run('(i=0; while [ ! -e /tmp/stop ]; do dd if=/dev/urandom of=/dev/vda bs=64k count=64 conv=fsync 2>/dev/null; i=$((i+1)); done; echo WRITER-DONE-$i) & :');
  const uuid = (await info(name)).disks[0].uuid;

  const job = await ok('POST', `/2/instances/${name}/replace-disks?mode=replace_new_secondary&remote_node=${C}`);
  const logs = job.oplog[0].map((e: unknown[]) => e[3]);
  t.true(logs.includes('STEP 6/6 Removing old storage'), JSON.stringify(logs));
  const v = await get(`/2/instances/${name}`);
  t.deepEqual([v.pnode, v.snodes], [A, [C]]);
  t.false(fs.existsSync(image(B, uuid)), 'the old copy is gone');

  await serial.run('touch /tmp/stop; sleep 1; sync');
  const sum = /([0-9a-f]{64})/.exec(await serial.run('dd if=/dev/vda bs=1M count=8 2>/dev/null | sha256sum', 120_000))![1]!;
  serial.close();
  await until('C to hold the same data', () => sha(image(C, uuid), 8 * MIB) === sum, 30_000);

  await ok('PUT', `/2/instances/${name}/failover`, {});
  t.is((await get(`/2/instances/${name}`)).pnode, C);
  recordQemu(t, C, name);
  await until('the guest on C', () => fs.existsSync(log(C)) && fs.readFileSync(log(C), 'utf8').includes(READY), 60_000);
  serial = await Serial.connect(socket(C));
  t.is(/([0-9a-f]{64})/.exec(await serial.run('dd if=/dev/vda bs=1M count=8 2>/dev/null | sha256sum', 120_000))![1], sum, 'intact on the new node');
  serial.close();
  await ok('DELETE', `/2/instances/${name}`);
  t.deepEqual([...daemons(A), ...daemons(B), ...daemons(C)], []);
});

test.serial('evacuating a node\'s drbd secondaries moves two instances\' copies to another node', async (t) => {
  t.timeout(180_000);
  const names = ['evac1.example.com', 'evac2.example.com'];
  for (const name of names) {
    await ok('POST', '/2/instances', createBody(name, { hypervisor: 'fake', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 8 }], ignore_ipolicy: true }));
  }
  const first = (await info(names[0]!)).disks[0];
  const w = await hosts.exec(0, ['qemu-io', '-f', 'raw', `nbd://${IP[A]}:${first.drbd_info.port}/${first.uuid}.vm`, '-c', 'write -P 0x77 0 1M']);
  t.is(w.code, 0, w.stderr);
  const res = await c.w('POST', `/2/nodes/${B}/evacuate`, { body: { mode: 'secondary-only', iallocator: 'hail' } });
  t.is(res.status, 200, res.text);
  const evac = await waitForJob(c.rapid, res.json, { user: 'admin', password: 'adminpw' }, 60_000);
  t.is(evac.status, 'success', JSON.stringify(evac.opresult));
  const children = (evac.opresult[0].jobs as [boolean, number][]).map(([, id]) => id);
  t.is(children.length, 2);
  for (const id of children) {
    const j = await waitForJob(c.rapid, id, { user: 'admin', password: 'adminpw' }, 120_000);
    t.is(j.status, 'success', JSON.stringify(j.opresult));
  }
  for (const name of names) t.deepEqual((await get(`/2/instances/${name}`)).snodes, [C]);
  const want = createHash('sha256').update(Buffer.alloc(MIB, 0x77)).digest('hex');
  t.is(sha(image(C, first.uuid), MIB), want, 'the data moved with the copy');
  for (const name of names) await ok('DELETE', `/2/instances/${name}`);
  t.deepEqual([...daemons(A), ...daemons(B), ...daemons(C)], []);
});

test.serial('disk template conversions file → drbd → file keep the data', async (t) => {
  t.timeout(180_000);
  const name = 'drbdconv.example.com';
  await ok('POST', '/2/instances', createBody(name, { hypervisor: 'fake', disk_template: 'file', pnode: A, disks: [{ size: 8 }], start: false, ignore_ipolicy: true }));
  const file = (await info(name)).disks[0].logical_id[1] as string;
  const storage = path.join(c.nodeDataDir(A)!, 'storage');
  const fd = fs.openSync(path.join(storage, file), 'r+');
  fs.writeSync(fd, Buffer.alloc(MIB, 0x42), 0, MIB, 2 * MIB);
  fs.closeSync(fd);
  const want = createHash('sha256').update(Buffer.alloc(MIB, 0x42)).digest('hex');

  const noNode = await c.job('PUT', `/2/instances/${name}/modify`, { body: { disk_template: 'drbd', remote_node: A } });
  t.deepEqual(noNode.opresult[0], ['OpPrereqError', [`Given new secondary node ${A} is the same as the primary node of the instance`, 'wrong_state']]);

  const toDrbd = await ok('PUT', `/2/instances/${name}/modify`, { disk_template: 'drbd', remote_node: B });
  t.deepEqual(toDrbd.opresult[0], [['disk_template', 'drbd']]);
  const v = await get(`/2/instances/${name}`);
  t.deepEqual([v.disk_template, v.snodes], ['drbd', [B]]);
  const disk = (await info(name)).disks[0];
  for (const n of [A, B]) t.is(createHash('sha256').update(fs.readFileSync(image(n, disk.uuid)).subarray(2 * MIB, 3 * MIB)).digest('hex'), want, `the data is on ${n}'s copy`);
  t.false(fs.existsSync(path.join(storage, file)), 'the old file is gone');
  t.deepEqual([...daemons(A), ...daemons(B)], [], 'the replicas are shut down again (the instance is down)');

  await ok('PUT', `/2/instances/${name}/modify`, { disk_template: 'file' });
  const back = (await info(name)).disks[0];
  t.is((await get(`/2/instances/${name}`)).disk_template, 'file');
  t.is(createHash('sha256').update(fs.readFileSync(path.join(storage, back.logical_id[1])).subarray(2 * MIB, 3 * MIB)).digest('hex'), want);
  t.false(fs.existsSync(image(A, disk.uuid)) || fs.existsSync(image(B, disk.uuid)), 'no replica left');
  await ok('DELETE', `/2/instances/${name}`);
});

test.serial('node migrate moves a node\'s drbd primaries to their secondaries; deactivate and activate disks', async (t) => {
  t.timeout(180_000);
  const names = ['nmig1.example.com', 'nmig2.example.com'];
  for (const name of names) {
    await ok('POST', '/2/instances', createBody(name, { hypervisor: 'fake', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 8 }], ignore_ipolicy: true }));
  }
  const res = await c.w('POST', `/2/nodes/${A}/migrate`, { body: { mode: 'live' } });
  t.is(res.status, 200, res.text);
  const job = await waitForJob(c.rapid, res.json, { user: 'admin', password: 'adminpw' }, 60_000);
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  for (const [, id] of job.opresult[0].jobs as [boolean, number][]) {
    t.is((await waitForJob(c.rapid, id, { user: 'admin', password: 'adminpw' }, 120_000)).status, 'success');
  }
  for (const name of names) {
    const v = await get(`/2/instances/${name}`);
    t.deepEqual([v.pnode, v.snodes, v.status], [B, [A], 'running']);
  }

  // A stopped instance's replicas are shut down; activate-disks brings them up and answers the guest's path.
  const name = names[0]!;
  await ok('PUT', `/2/instances/${name}/shutdown`, {});
  const uuid = (await info(name)).disks[0].uuid;
  const running = () => [A, B].filter((n) => fs.existsSync(path.join(c.nodeDataDir(n)!, 'kvm', 'disk', `${uuid}.pid`)));
  t.deepEqual(running(), []);
  const act = await ok('PUT', `/2/instances/${name}/activate-disks`);
  const [[node, iv, devPath]] = act.opresult[0];
  t.deepEqual([node, iv], [B, 'disk/0']);
  t.regex(devPath, new RegExp(`^nbd://${IP[B]!.replace(/\./g, '\\.')}:\\d+/${uuid}\\.vm$`));
  t.deepEqual(running().sort(), [A, B].sort());
  await ok('PUT', `/2/instances/${name}/deactivate-disks`);
  t.deepEqual(running(), []);
  for (const n of names) await ok('DELETE', `/2/instances/${n}`);
});

test.serial('replace_on_primary of a stopped instance: a new primary copy, filled from the secondary; refused while it runs', async (t) => {
  t.timeout(180_000);
  const name = 'drbdpri.example.com';
  await ok('POST', '/2/instances', createBody(name, { hypervisor: 'fake', disk_template: 'drbd', pnode: A, snode: B, disks: [{ size: 8 }], ignore_ipolicy: true }));
  const disk = (await info(name)).disks[0];
  const w = await hosts.exec(0, ['qemu-io', '-f', 'raw', `nbd://${IP[A]}:${disk.drbd_info.port}/${disk.uuid}.vm`, '-c', 'write -P 0x61 3M 1M']);
  t.is(w.code, 0, w.stderr);
  const running = await c.job('POST', `/2/instances/${name}/replace-disks?mode=replace_on_primary`);
  t.is(running.opresult[0][0], 'OpPrereqError');
  t.regex(running.opresult[0][1][0], /is running: rapid replaces the primary's copy only of a stopped instance/);

  await ok('PUT', `/2/instances/${name}/shutdown`, {});
  // The primary's copy goes bad behind everyone's back (its replicas are shut down).
  const fd = fs.openSync(image(A, disk.uuid), 'r+');
  fs.writeSync(fd, Buffer.alloc(MIB, 0), 0, MIB, 3 * MIB);
  fs.closeSync(fd);
  const job = await ok('POST', `/2/instances/${name}/replace-disks?mode=replace_on_primary`);
  const logs = job.oplog[0].map((e: unknown[]) => e[3]);
  t.true(logs.includes('STEP 5/6 Sync devices'), JSON.stringify(logs));
  const want = createHash('sha256').update(Buffer.alloc(MIB, 0x61)).digest('hex');
  t.is(createHash('sha256').update(fs.readFileSync(image(A, disk.uuid)).subarray(3 * MIB, 4 * MIB)).digest('hex'), want, 'filled from the secondary');
  await ok('PUT', `/2/instances/${name}/startup`, {});
  const after = (await info(name)).disks[0];
  t.deepEqual([after.drbd_info.primary_node, after.pstatus[5]], [A, false], 'the pair starts with its real roles, in sync');
  await ok('DELETE', `/2/instances/${name}`);
});
