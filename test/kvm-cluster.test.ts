// What a kvm guest's owner sees through RAPI beyond start/stop, on real
// QEMU/tcg: the console description and the serial output rapid keeps, a
// disk that grows while the guest runs, soft reboot, a guest that ignores
// ACPI, a QEMU that dies, and a node worker killed with -9 while guests run.
// One guest at a time.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { READY, Serial, killByPidfiles, testGuest } from './helpers/guest.ts';
import { pidDir, recordPid, unrecordPid } from './helpers/pids.ts';
import { processAlive } from '../hypervisor/kvm.ts';
import { until } from './helpers/until.ts';

let c: TestCluster;
test.before(async (t) => {
  t.timeout(300_000);
  await testGuest();
  c = await startCluster({ RAPID_HYPERVISORS: 'fake,kvm', RAPID_KVM_ACCEL: 'tcg' });
});
test.after.always(async () => {
  await c?.stop();
  if (c) killByPidfiles(path.join(runDir(), 'pid'));
});

const runDir = () => path.join(c.rapid.dataDir, 'kvm');
const get = async (p: string) => (await c.w('GET', p)).json;
const status = async (name: string) => (await get(`/2/instances/${name}`)).status as string;

function qemuPid(t: ExecutionContext, name: string): number {
  const pid = parseInt(fs.readFileSync(path.join(runDir(), 'pid', name), 'utf8'), 10);
  if (!(pid > 0) || !processAlive(pid)) throw new Error(`no QEMU runs for ${name}`);
  recordPid(pid, name);
  t.teardown(() => { if (processAlive(pid)) process.kill(pid, 'SIGKILL'); unrecordPid(pid); });
  return pid;
}

const serialLog = (name: string) => path.join(runDir(), 'log', `${name}.serial.log`);
/** Waits for the n-th whole ready line (the serial log is appended across boots). */
const ready = (name: string, n: number) => until(`${READY} #${n}`, () =>
  fs.existsSync(serialLog(name)) && (fs.readFileSync(serialLog(name), 'utf8').match(new RegExp(`${READY}[^\\n]*\\n`, 'g'))?.length ?? 0) >= n, 60_000);

async function ok(method: string, p: string, body?: unknown): Promise<any> {
  const job = await c.job(method, p, body === undefined ? {} : { body });
  if (job.status !== 'success') throw new Error(`${method} ${p}: ${job.status} ${JSON.stringify(job.opresult)}`);
  return job;
}

async function createGuest(name: string, extra: { kernel_args?: string; disks?: unknown[]; beparams?: Record<string, unknown> } = {}): Promise<void> {
  const g = await testGuest();
  await ok('POST', '/2/instances', createBody(name, {
    ...(extra.beparams ? { beparams: extra.beparams } : {}),
    hypervisor: 'kvm', nics: [], start: true, ignore_ipolicy: true,
    disk_template: extra.disks ? 'file' : 'diskless', disks: extra.disks ?? [],
    hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/ram0', kernel_args: extra.kernel_args ?? 'ro quiet', serial_console: true },
  }));
}

/** This cluster's supervised local node worker, from the pid files rapid keeps for its children. */
function workerPid(): number | null {
  for (const f of fs.readdirSync(pidDir).filter((n) => /^worker\.\d+\.pid$/.test(n))) {
    const text = fs.readFileSync(path.join(pidDir, f), 'utf8');
    const pid = parseInt(text, 10);
    if (text.includes(`owner=${c.rapid.proc.pid}`) && processAlive(pid)) return pid;
  }
  return null;
}

test.serial('console and consoledata, online disk grow, soft reboot', async (t) => {
  t.timeout(300_000);
  const name = 'kvmc1.example.com';
  await createGuest(name, { disks: [{ size: 32 }] });
  const pid1 = qemuPid(t, name);
  await ready(name, 1);

  const con = await get(`/2/instances/${name}/console`);
  const socket = path.join(runDir(), 'ctrl', `${name}.serial`);
  t.deepEqual(con, {
    instance: name, kind: 'ssh', host: 'node1.example.com', port: 22, user: 'root',
    command: ['/usr/bin/socat', 'STDIO,raw,echo=0,escape=0x1d', `UNIX-CONNECT:${socket}`],
  });

  const data = await c.w('GET', `/2/instances/${name}/consoledata`);
  t.is(data.status, 200);
  t.is(data.headers['content-type'], 'application/octet-stream');
  t.true(data.text.includes(READY), 'consoledata holds the guest\'s serial output');
  t.is(data.text, fs.readFileSync(serialLog(name), 'utf8').slice(-10240));
  const tail = await c.w('GET', `/2/instances/${name}/consoledata?length=12`);
  t.is(tail.text, data.text.slice(-12));
  const bad = await c.w('GET', `/2/instances/${name}/consoledata?length=many`);
  t.is(bad.status, 400);
  // Ganeti's HTTP server HTML-escapes error messages.
  t.is(bad.json.message, 'Invalid value for the &#x27;length&#x27; parameter');

  // The guest answers on its serial console, and sees its disk grow while it runs.
  const serial = await Serial.connect(socket);
  t.teardown(() => serial.close());
  t.is((await serial.run('cat /sys/block/vda/size')).trim().split('\n').pop(), String((32 << 20) / 512));
  await ok('POST', `/2/instances/${name}/disk/0/grow`, { amount: 16, ignore_ipolicy: true });
  t.is((await get(`/2/instances/${name}`))['disk.sizes'][0], 48);
  t.is((await serial.run('cat /sys/block/vda/size')).trim().split('\n').pop(), String((48 << 20) / 512), 'the running guest sees 48 MiB');
  serial.close();

  // Ganeti's kvm soft reboot: the saved command line runs again in a new QEMU.
  await ok('POST', `/2/instances/${name}/reboot?type=soft`);
  t.is(await status(name), 'running');
  const pid2 = qemuPid(t, name);
  t.not(pid2, pid1);
  t.false(processAlive(pid1));
  await ready(name, 2);

  const cleared = await c.w('DELETE', `/2/instances/${name}/consoledata`);
  t.is(cleared.status, 200);
  t.false((await c.w('GET', `/2/instances/${name}/consoledata`)).text.includes(READY), 'cleared');

  await ok('DELETE', `/2/instances/${name}`);
  t.false(processAlive(pid2));
  t.true(fs.existsSync(serialLog(name)), 'the serial log outlives the instance, as Ganeti keeps its logs');
});

test.serial('a guest that ignores the ACPI power button is killed when the shutdown timeout passes', async (t) => {
  t.timeout(180_000);
  const name = 'kvmc2.example.com';
  await createGuest(name, { kernel_args: 'ro quiet guest.powerbutton=ignore' });
  const pid = qemuPid(t, name);
  await ready(name, 1);
  t.regex(fs.readFileSync(serialLog(name), 'utf8'), /powerbutton=none/);
  const started = Date.now();
  const job = await ok('PUT', `/2/instances/${name}/shutdown`, { timeout: 3 });
  const took = Date.now() - started;
  t.true(took >= 3_000, `the job waited for the timeout (${took} ms)`);
  t.true(took < 20_000, `and no longer than the kill needs (${took} ms)`);
  t.false(processAlive(pid));
  t.is(await status(name), 'ADMIN_down');
  t.is(job.opstatus[0], 'success');
  await ok('DELETE', `/2/instances/${name}`);
});

test.serial('kill -9 of the node worker: guests run on, the next worker adopts them; a QEMU that dies is ERROR_down', async (t) => {
  t.timeout(300_000);
  const name = 'kvmc3.example.com';
  await createGuest(name);
  const qemu = qemuPid(t, name);
  await ready(name, 1);

  const old = workerPid();
  t.truthy(old);
  process.kill(old!, 'SIGKILL');
  const next = await until('a new node worker', () => { const p = workerPid(); return p && p !== old && p; }, 30_000);
  t.not(next, old);
  t.true(processAlive(qemu), 'the guest outlived its worker');
  // The new worker reports it (its heartbeat replaces the dead one's).
  await until('the new worker\'s report', async () => (await get(`/2/instances/${name}`)).oper_state === true, 30_000);
  t.is(await status(name), 'running');
  const serial = await Serial.connect(path.join(runDir(), 'ctrl', `${name}.serial`));
  t.teardown(() => serial.close());
  t.regex(await serial.run('echo alive-$((6*7))'), /alive-42/);
  serial.close();

  // The adopted monitor delivers the power button: a quick ACPI shutdown, not a kill.
  const started = Date.now();
  await ok('PUT', `/2/instances/${name}/shutdown`, { timeout: 60 });
  t.true(Date.now() - started < 20_000);
  t.false(processAlive(qemu));
  t.regex(fs.readFileSync(serialLog(name), 'utf8'), /power button, powering off/);
  t.is(await status(name), 'ADMIN_down');

  // A guest whose QEMU dies under it is reported as Ganeti does.
  await ok('PUT', `/2/instances/${name}/startup`);
  const qemu2 = qemuPid(t, name);
  await ready(name, 2);
  process.kill(qemu2, 'SIGKILL');
  await until('ERROR_down', async () => (await status(name)) === 'ERROR_down', 15_000);
  t.pass();
  await ok('DELETE', `/2/instances/${name}`);
});

test.serial('runtime memory: the virtio balloon takes memory from a running guest, and gives it back', async (t) => {
  t.timeout(180_000);
  const name = 'kvmc4.example.com';
  await createGuest(name, { beparams: { maxmem: 128, minmem: 64 } });
  qemuPid(t, name);
  await ready(name, 1);
  const serial = await Serial.connect(path.join(runDir(), 'ctrl', `${name}.serial`));
  t.teardown(() => serial.close());
  const memTotal = async () => Number(/MemTotal:\s+(\d+)/.exec(await serial.run('cat /proc/meminfo'))![1]) / 1024;
  const full = await memTotal();
  const job = await ok('PUT', `/2/instances/${name}/modify`, { runtime_mem: 96 });
  t.deepEqual(job.opresult[0], [['runtime_memory', 96]]);
  t.is((await get(`/2/instances/${name}`)).oper_ram, 96);
  const less = await until('the guest to give up 32 MiB', async () => { const m = await memTotal(); return full - m >= 30 ? m : 0; }, 30_000);
  t.true(full - less <= 34, `${full} → ${less} MiB`);
  await ok('PUT', `/2/instances/${name}/modify`, { runtime_mem: 128 });
  await until('the memory back', async () => (await memTotal()) >= full - 1, 30_000);
  t.is((await get(`/2/instances/${name}`)).oper_ram, 128);
  serial.close();
  await ok('DELETE', `/2/instances/${name}`);
});

test.serial('disk hotplug: a disk added to and removed from a running guest, which sees both', async (t) => {
  t.timeout(180_000);
  const name = 'kvmc5.example.com';
  await createGuest(name, { disks: [{ size: 32 }] });
  const pid = qemuPid(t, name);
  await ready(name, 1);
  const serial = await Serial.connect(path.join(runDir(), 'ctrl', `${name}.serial`));
  t.teardown(() => serial.close());
  const blocks = async () => (await serial.run('ls /sys/block')).split(/\s+/).filter((b) => /^vd[a-z]$/.test(b)).sort();
  t.deepEqual(await blocks(), ['vda']);

  const add = await ok('PUT', `/2/instances/${name}/modify`, { disks: [['add', { size: 16 }]], hotplug: true });
  t.deepEqual(add.opresult[0], [['disk/1', 'add:size=16,mode=rw'], ['disk/1', 'hotplug:done']]);
  await until('the guest to see vdb', async () => (await blocks()).includes('vdb'), 30_000);
  t.is((await serial.run('cat /sys/block/vdb/size')).trim().split('\n').pop(), String((16 << 20) / 512));
  t.is(pid, parseInt(fs.readFileSync(path.join(runDir(), 'pid', name), 'utf8'), 10), 'the same QEMU');
  const runtime = JSON.parse(fs.readFileSync(path.join(runDir(), 'conf', `${name}.runtime`), 'utf8')) as { argv: string[] };
  t.is(runtime.argv.filter((a) => a === '-drive').length, 2, 'a soft reboot would keep the new disk');

  const del = await ok('PUT', `/2/instances/${name}/modify`, { disks: [['remove', 1, {}]], hotplug: true });
  t.deepEqual(del.opresult[0], [['disk/1', 'remove'], ['disk/1', 'hotplug:done']]);
  await until('vdb to go', async () => !(await blocks()).includes('vdb'), 30_000);
  t.deepEqual((await get(`/2/instances/${name}`))['disk.sizes'], [32]);
  serial.close();
  await ok('DELETE', `/2/instances/${name}`);
});
