// Live migration of a real kvm guest (QEMU/tcg) through RAPI, between two
// nodes that are network namespaces joined by veth pairs to a bridge in a
// third, "switch", namespace: the guest (a sharedfile disk and a bridged NIC)
// moves from A to B live and back non-live, keeps running all along (the
// same guest: its counter and uptime go on), and a migration that fails
// before or during the memory transfer leaves it running on its source.
// At most two QEMUs at a time (source and target), all recorded for the reaper.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { createHosts, type Hosts } from './helpers/netns.ts';
import { READY, Serial, testGuest } from './helpers/guest.ts';
import { recordPid, unrecordPid } from './helpers/pids.ts';
import { processAlive } from '../hypervisor/host.ts';
import { incomingArgv, KvmMigration, localizeRuntime, migrationStatusOf, migrationUri, type KvmMigrationHost } from '../hypervisor/kvm-migration.ts';
import type { QmpClient } from '../hypervisor/qmp.ts';
import type { InstanceSpecLike } from '../hypervisor/driver.ts';
import { HVC_DEFAULTS } from '../src/defaults.ts';
import { until } from './helpers/until.ts';

const A = 'mig-a.example.com';
const B = 'mig-b.example.com';
const BRIDGE = 'br-guests';
const NAME = 'kvmmig.example.com';
const MAC = 'aa:00:00:4d:19:01';
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

/** The two nodes' namespaces (netns.ts: joined through a switch), each with a bridge for guests. */
let hosts: Hosts;
const NS: Record<string, string> = {};

let c: TestCluster;
test.before(async (t) => {
  t.timeout(300_000);
  await testGuest();
  hosts = await createHosts(2);
  [NS[A], NS[B]] = hosts.names;
  for (const ns of hosts.names) {
    ip('-n', ns, 'link', 'add', BRIDGE, 'type', 'bridge');
    ip('-n', ns, 'link', 'set', BRIDGE, 'up');
  }
  c = await startCluster({ RAPID_HYPERVISORS: 'fake,kvm', RAPID_KVM_ACCEL: 'tcg' });
  // Live for real, although TCG on this QEMU can lose pages a busy guest writes meanwhile: the
  // test guest only writes a counter (the default, stopping TCG guests, is in the QMP conversation test).
  const env = { RAPID_KVM_ACCEL: 'tcg', RAPID_KVM_TCG_LIVE_MIGRATION: '1' };
  await c.addNode(A, hosts.ips[0], { netns: NS[A], env });
  await c.addNode(B, hosts.ips[1], { netns: NS[B], env });
});
test.after.always(async () => {
  const pidDirs = [A, B].map((n) => c?.nodeDataDir(n)).filter(Boolean).map((d) => path.join(d!, 'kvm', 'pid'));
  await c?.stop();
  for (const dir of pidDirs) {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const pid = parseInt(fs.readFileSync(path.join(dir, f), 'utf8'), 10);
      if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  for (const pid of seen) {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    unrecordPid(pid);
  }
  await hosts?.destroy();
});

const runDir = (node: string) => path.join(c.nodeDataDir(node)!, 'kvm');
const view = async () => (await c.w('GET', `/2/instances/${NAME}`)).json;
const serialSocket = (node: string) => path.join(runDir(node), 'ctrl', `${NAME}.serial`);

/** QEMUs seen, killed (if still there) after the last test: one guest lives through several tests. */
const seen = new Set<number>();

/** The guest's QEMU on `node`, if one runs there; recorded so a failed run leaves none. */
function qemuOn(node: string): number | null {
  const file = path.join(runDir(node), 'pid', NAME);
  const pid = fs.existsSync(file) ? parseInt(fs.readFileSync(file, 'utf8'), 10) : 0;
  if (!(pid > 0) || !processAlive(pid)) return null;
  if (!seen.has(pid)) recordPid(pid, NAME);
  seen.add(pid);
  return pid;
}

/** Nothing of the guest's runtime is left in `node`'s run directory (its logs stay). */
function runDirEmpty(t: ExecutionContext, node: string): void {
  for (const dir of ['pid', 'ctrl', 'conf']) {
    const d = path.join(runDir(node), dir);
    t.deepEqual(fs.existsSync(d) ? fs.readdirSync(d) : [], [], `nothing left in ${node}'s ${dir}/`);
  }
}

/** The guest's counter (it adds one every 0.1 s) and uptime, read on its serial console. */
async function probe(serial: Serial): Promise<{ count: number; uptime: number }> {
  const out = await serial.run('echo C=$(cat /tmp/c) U=$(cut -d" " -f1 /proc/uptime)');
  const m = /C=(\d+) U=([\d.]+)/.exec(out);
  if (!m) throw new Error(`no counter in ${JSON.stringify(out)}`);
  return { count: Number(m[1]), uptime: Number(m[2]) };
}

/** The guest still counts: a later probe is ahead of `before`. */
async function stillCounting(t: ExecutionContext, serial: Serial, before: { count: number; uptime: number }, what: string) {
  await new Promise((r) => setTimeout(r, 500));
  const now = await probe(serial);
  t.true(now.count > before.count, `${what}: the counter went on (${before.count} → ${now.count})`);
  t.true(now.uptime > before.uptime, `${what}: the same guest, not a reboot (uptime ${before.uptime} → ${now.uptime})`);
  return now;
}

async function migrate(body: Record<string, unknown>): Promise<any> {
  return c.job('PUT', `/2/instances/${NAME}/migrate`, { body });
}

const setBandwidth = (mibPerSecond: number) => c.job('PUT', '/2/modify', { body: { hvparams: { kvm: { migration_bandwidth: mibPerSecond } } } });

const logText = (job: any) => JSON.stringify(job.oplog);

test.serial('migration helpers: the target\'s argv, paths and taps; QEMU\'s statuses in Ganeti\'s words', (t) => {
  const rt = {
    argv: ['/usr/bin/qemu-system-x86_64', '-name', 'i1', '-pidfile', '/src/kvm/pid/i1', '-D', '/src/kvm/log/i1.log',
      '-monitor', 'unix:/src/kvm/ctrl/i1.monitor,server=on,wait=off',
      '-chardev', 'socket,id=serial0,path=/src/kvm/ctrl/i1.serial,server=on,wait=off,logfile=/src/kvm/log/i1.serial.log,logappend=on',
      '-netdev', 'tap,id=nic-1,ifname=rt0123456789ab,script=no,downscript=no,vnet_hdr=off',
      '-qmp', 'unix:/src/kvm/ctrl/i1.qmp,server=on,wait=off', '-qmp', 'unix:/src/kvm/ctrl/i1.kvmd,server=on,wait=off',
      '-drive', 'file=/shared/i1.disk0,format=raw', '-S'],
    hvparams: {}, paused: false, nics: [{ tap: 'rt0123456789ab', link: 'br0' }],
  };
  const here = localizeRuntime(rt, 'i1', '/dst/kvm', (tap) => tap === 'rt0123456789ab');
  const text = here.argv.join(' ');
  t.notRegex(text, /\/src\//, 'every run-directory path moved');
  t.regex(text, /-pidfile \/dst\/kvm\/pid\/i1 -D \/dst\/kvm\/log\/i1\.log/);
  t.regex(text, /path=\/dst\/kvm\/ctrl\/i1\.serial,server=on,wait=off,logfile=\/dst\/kvm\/log\/i1\.serial\.log/);
  t.regex(text, /file=\/shared\/i1\.disk0/, 'disks stay where they are: shared storage');
  t.regex(text, /ifname=rm0123456789ab,/, 'a tap name the source holds here is replaced by its twin');
  t.deepEqual(here.nics, [{ tap: 'rm0123456789ab', link: 'br0' }]);
  t.deepEqual(localizeRuntime(here, 'i1', '/src/kvm', (tap) => tap === 'rm0123456789ab').argv, rt.argv, 'and back again');
  t.is(localizeRuntime(rt, 'i1', '/dst/kvm', () => false).nics[0]!.tap, 'rt0123456789ab', 'a free tap name is kept');
  t.throws(() => localizeRuntime({ ...rt, argv: ['qemu'] }, 'i1', '/dst', () => false), { message: /no -pidfile/ });

  const inc = incomingArgv(rt.argv, '10.0.0.2', 8102);
  t.false(inc.includes('-S'), 'an incoming guest starts by itself when its state is in');
  t.deepEqual(inc.slice(-2), ['-incoming', 'tcp:10.0.0.2:8102']);
  t.is(migrationUri('fd00::2', 8102), 'tcp:[fd00::2]:8102');

  t.deepEqual(migrationStatusOf({ status: 'active', ram: { transferred: 5, total: 10 } }), { status: 'active', transferred_ram: 5, total_ram: 10 });
  t.deepEqual(migrationStatusOf({ status: 'device' }), { status: 'active' }, 'QEMU\'s last phase still counts as active');
  t.deepEqual(migrationStatusOf({ status: 'completed' }), { status: 'completed' });
  t.deepEqual(migrationStatusOf({ status: 'failed' }), { status: 'failed' });
  t.is(migrationStatusOf({ status: 'postcopy-paused' }), null, 'unknown to Ganeti: asked again');
});

/** A KvmMigration on a pretend guest: the QMP commands it sends, with canned answers (the last one repeats). */
function pretend(o: { qemuMajor?: number; kvm?: boolean; trustTcg?: boolean; paused?: boolean; answers?: Record<string, unknown[]> } = {}) {
  const sent: [string, unknown][] = [];
  const killed: string[] = [];
  const qmp = {
    greeting: { QMP: { version: { qemu: { major: o.qemuMajor ?? 7, minor: 2, micro: 22 }, package: '' }, capabilities: [] } },
    async execute(command: string, args?: unknown) {
      sent.push([command, args]);
      if (command === 'query-kvm') return { enabled: o.kvm ?? false, present: true };
      const queue = o.answers?.[command] ?? [{}];
      return queue.length > 1 ? queue.shift() : queue[0];
    },
  } as unknown as QmpClient;
  const host: KvmMigrationHost = {
    runDir: '/run/kvm', qmpTimeoutMs: 1_000, tcgLiveMigration: o.trustTcg ?? false,
    alive: async () => ({ pid: 1 }), monitor: async () => qmp,
    readRuntime: async () => ({ argv: [], hvparams: {}, paused: o.paused ?? false, nics: [] }),
    launch: async () => undefined, kill: async (name) => { killed.push(name); },
  };
  return { m: new KvmMigration(host), sent, commands: () => sent.map(([c]) => c), killed };
}

const spec = (hvparams: Record<string, unknown> = {}): InstanceSpecLike => ({
  name: 'i1', hypervisor: 'kvm', hvparams: { ...HVC_DEFAULTS.kvm, ...hvparams }, beparams: {}, disks: [], nics: [],
});

test.serial('the QMP conversation of each migration step, as hv_kvm has it', async (t) => {
  // Live on KVM: Ganeti's parameters (MiB/s → bytes/s), its capabilities, then migrate; no stop.
  let p = pretend({ kvm: true });
  await p.m.migrate(spec({ migration_caps: 'xbzrle:auto-converge' }), '10.0.0.2', true);
  t.deepEqual(p.commands(), ['query-kvm', 'migrate-set-parameters', 'migrate-set-capabilities', 'migrate']);
  t.deepEqual(p.sent[1]![1], { 'max-bandwidth': 32 * 2 ** 20, 'downtime-limit': 30, 'max-postcopy-bandwidth': 32 * 2 ** 20 });
  t.deepEqual(p.sent[2]![1], { capabilities: [{ capability: 'xbzrle', state: true }, { capability: 'auto-converge', state: true }] });
  t.deepEqual(p.sent[3]![1], { uri: 'tcp:10.0.0.2:8102' });

  // Non-live: stopped first.
  p = pretend({ kvm: true });
  await p.m.migrate(spec(), '10.0.0.2', false);
  t.deepEqual(p.commands(), ['stop', 'migrate-set-parameters', 'migrate']);

  // TCG on QEMU 7: stopped for the transfer, unless the node trusts its QEMU; QEMU 9 is trusted.
  p = pretend({ kvm: false });
  await p.m.migrate(spec(), '10.0.0.2', true);
  t.deepEqual(p.commands(), ['query-kvm', 'stop', 'migrate-set-parameters', 'migrate']);
  p = pretend({ kvm: false, trustTcg: true });
  await p.m.migrate(spec(), '10.0.0.2', true);
  t.deepEqual(p.commands(), ['migrate-set-parameters', 'migrate']);
  p = pretend({ kvm: false, qemuMajor: 9 });
  await p.m.migrate(spec(), '10.0.0.2', true);
  t.deepEqual(p.commands(), ['migrate-set-parameters', 'migrate']);

  // Postcopy: after two precopy passes the source switches, once.
  p = pretend({ answers: { 'query-migrate': [{ status: 'active', ram: { transferred: 1, total: 4, 'dirty-sync-count': 2 } }] } });
  t.deepEqual(await p.m.status(spec({ migration_caps: 'postcopy-ram' })), { status: 'postcopy-active', transferred_ram: 1, total_ram: 4 });
  t.deepEqual(p.commands(), ['query-migrate', 'migrate-start-postcopy']);

  // The target after success: waits out `inmigrate`, continues a guest the non-live source had stopped.
  p = pretend({ answers: { 'query-status': [{ status: 'inmigrate' }, { status: 'paused' }] } });
  await p.m.finalizeDst(spec(), true);
  t.deepEqual(p.commands(), ['query-status', 'query-status', 'cont']);
  p = pretend({ answers: { 'query-status': [{ status: 'running' }] } });
  await p.m.finalizeDst(spec(), true);
  t.deepEqual(p.commands(), ['query-status'], 'a live-migrated guest resumed by itself');
  p = pretend({ paused: true, answers: { 'query-status': [{ status: 'paused' }] } });
  await p.m.finalizeDst(spec(), true);
  t.deepEqual(p.commands(), ['query-status'], 'a guest started paused stays paused');
  p = pretend();
  await p.m.finalizeDst(spec(), false);
  t.deepEqual(p.killed, ['i1'], 'after a failure the target QEMU goes');

  // The source after failure: a stream still running is cancelled, a stopped guest continued.
  p = pretend({ answers: { 'query-migrate': [{ status: 'active' }], 'query-status': [{ status: 'paused' }] } });
  await p.m.finalizeSrc(spec(), false);
  t.deepEqual(p.commands(), ['query-migrate', 'migrate_cancel', 'query-status', 'cont']);
  p = pretend();
  await p.m.finalizeSrc(spec(), true);
  t.deepEqual(p.killed, ['i1'], 'after success the source QEMU goes');
  t.deepEqual(p.commands(), []);
});

test.serial('live migration A → B and non-live back: the same guest runs on, its QEMU moves', async (t) => {
  t.timeout(300_000);
  const g = await testGuest();
  // migration_bandwidth is cluster-wide (HVC_GLOBALS); Ganeti's 32 MiB/s default would only make the test slower.
  t.is((await setBandwidth(1000)).status, 'success');
  t.is((await c.job('PUT', '/2/modify', { body: { enabled_user_shutdown: true } })).status, 'success');
  const created = await c.job('POST', '/2/instances', {
    body: createBody(NAME, {
      pnode: A, hypervisor: 'kvm', start: true, ignore_ipolicy: true,
      disk_template: 'sharedfile', disks: [{ size: 16 }], nics: [{ mode: 'bridged', link: BRIDGE, mac: MAC }],
      hvparams: {
        kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/ram0', kernel_args: 'ro quiet', serial_console: true,
        migration_downtime: 100, user_shutdown: true,
      },
    }),
  });
  t.is(created.status, 'success', JSON.stringify(created.opresult));
  const pidA = qemuOn(A);
  t.truthy(pidA, 'QEMU runs on A');
  await until(READY, () => fs.readFileSync(path.join(runDir(A), 'log', `${NAME}.serial.log`), 'utf8').includes(READY), 60_000);
  const serialA = await Serial.connect(serialSocket(A));
  t.teardown(() => serialA.close());
  t.regex(await serialA.run('ls /sys/block'), /vda/, 'the guest sees its sharedfile disk');
  // `& true`: Serial.run appends `; echo …`, and `&;` would be a syntax error that ends the guest's shell.
  await serialA.run('i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 0.1; done & true');
  const before = await stillCounting(t, serialA, { count: 0, uptime: 0 }, 'on A');

  // Live, A → B.
  const started = Date.now();
  const job = await migrate({ target_node: B });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.regex(logText(job), /memory transfer complete/);
  t.notRegex(c.workers.get(A)!.output(), /stopping it for the transfer/, 'live, not stopped first');
  t.log(`live migration job: ${Date.now() - started} ms`);
  const pidB = qemuOn(B);
  t.truthy(pidB, 'QEMU runs on B');
  t.false(processAlive(pidA!), 'and no longer on A');
  runDirEmpty(t, A);
  t.regex(fs.readFileSync(`/proc/${pidB}/cmdline`, 'utf8'), new RegExp(`-pidfile\0${runDir(B).replace(/[.]/g, '\\.')}/pid/`), 'B\'s QEMU keeps its files in B\'s run dir');
  t.false(fs.readFileSync(`/proc/${pidB}/cmdline`, 'utf8').split('\0').includes('-S'));
  const rtB = JSON.parse(fs.readFileSync(path.join(runDir(B), 'conf', `${NAME}.runtime`), 'utf8'));
  t.false(rtB.argv.includes('-incoming'), 'B saved the plain runtime (a soft reboot there re-runs it)');
  let v = await view();
  t.is(v.pnode, B);
  t.is(v.status, 'running', 'not a user shutdown, not on the wrong node');
  t.true(v.oper_state);
  // The tap went with the guest: a port of B's bridge now, none on A.
  t.regex(ip('-n', NS[B]!, '-o', 'link', 'show', 'master', BRIDGE), /rt[0-9a-f]{12}/);
  t.notRegex(ip('-n', NS[A]!, '-o', 'link', 'show'), /rt[0-9a-f]{12}/);

  const serialB = await Serial.connect(serialSocket(B));
  t.teardown(() => serialB.close());
  const onB = await stillCounting(t, serialB, before, 'live A → B');
  t.false(fs.readFileSync(path.join(runDir(B), 'log', `${NAME}.serial.log`), 'utf8').includes(READY), 'B never booted the guest');
  t.regex(await serialB.run(`cat /sys/class/net/eth0/address`), new RegExp(MAC), 'its NIC came along');

  // Non-live, B → A: stopped for the transfer, running again after it.
  const back = await migrate({ target_node: A, mode: 'non-live' });
  t.is(back.status, 'success', JSON.stringify(back.opresult));
  const pidA2 = qemuOn(A);
  t.truthy(pidA2);
  t.false(processAlive(pidB!));
  runDirEmpty(t, B);
  v = await view();
  t.is(v.pnode, A);
  t.is(v.status, 'running');
  const serialA2 = await Serial.connect(serialSocket(A));
  t.teardown(() => serialA2.close());
  await stillCounting(t, serialA2, onB, 'non-live B → A');
});

test.serial('a failed migration leaves the guest running on its source', async (t) => {
  t.timeout(300_000);
  const pidA = qemuOn(A);
  t.truthy(pidA, 'the guest of the previous test runs on A');
  const serial = await Serial.connect(serialSocket(A));
  t.teardown(() => serial.close());
  let last = await probe(serial);

  // Before the transfer: B has no bridge for the NIC, so it cannot accept the guest.
  ip('-n', NS[B]!, 'link', 'del', BRIDGE);
  const refused = await migrate({ target_node: B });
  ip('-n', NS[B]!, 'link', 'add', BRIDGE, 'type', 'bridge');
  ip('-n', NS[B]!, 'link', 'set', BRIDGE, 'up');
  t.is(refused.status, 'error');
  t.regex(JSON.stringify(refused.opresult), new RegExp(`Could not pre-migrate instance ${NAME.replace(/\./g, '\\.')}: .*bridge '${BRIDGE}' does not exist on this node`));
  t.is(qemuOn(A), pidA, 'the same QEMU runs on A');
  t.is(qemuOn(B), null);
  runDirEmpty(t, B);
  last = await stillCounting(t, serial, last, 'refused by B');

  // During the transfer: B's QEMU dies (slowed to 1 MiB/s, so there is time to kill it).
  t.is((await setBandwidth(1)).status, 'success');
  const res = await c.w('PUT', `/2/instances/${NAME}/migrate`, { body: { target_node: B } });
  t.is(res.status, 200);
  const pidB = (await until('QEMU to listen on B', () => qemuOn(B), 60_000))!;
  await until('the memory transfer to start', async () => JSON.stringify((await c.w('GET', `/2/jobs/${res.json}`)).json.oplog).includes('starting memory transfer'), 60_000);
  await new Promise((r) => setTimeout(r, 1_000));
  process.kill(pidB, 'SIGKILL');
  const failed = await until('the job to end', async () => {
    const j = (await c.w('GET', `/2/jobs/${res.json}`)).json;
    return ['success', 'error', 'canceled'].includes(j.status) ? j : null;
  }, 120_000);
  t.is(failed.status, 'error');
  t.regex(JSON.stringify(failed.opresult), /Could not migrate instance .*: hypervisor returned failure/);
  t.is(qemuOn(A), pidA, 'the guest never left A');
  runDirEmpty(t, B);
  const v = await view();
  t.is(v.pnode, A);
  t.is(v.status, 'running');
  await stillCounting(t, serial, last, 'target died mid-way');

  // A guest that powers itself off is the user's shutdown on the node it migrated to (A took it in non-live).
  serial.run('poweroff -f').catch(() => undefined);
  await until('USER_down', async () => (await view()).status === 'USER_down', 30_000);
  t.false(processAlive(pidA!));
  t.true(fs.existsSync(path.join(runDir(A), 'ctrl', `${NAME}.shutdown`)));
  serial.close();
  t.is((await c.job('DELETE', `/2/instances/${NAME}`)).status, 'success');
  runDirEmpty(t, A);
});
