// Real KVM guests through RAPI on a one-node cluster with kvm enabled (tcg):
// create and start the test guest, its serial console from the node's run
// directory, shutdown by ACPI, startup, hard reboot (a new QEMU), removal.
// One guest at a time; every QEMU is recorded so an interrupted run leaves none.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { rapi } from './helpers/http.ts';
import { READY, killByPidfiles, testGuest } from './helpers/guest.ts';
import { recordPid, unrecordPid } from './helpers/pids.ts';
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
  // A test that failed half-way may leave a guest.
  if (c) killByPidfiles(path.join(runDir(), 'pid'));
});

const runDir = () => path.join(c.rapid.dataDir, 'kvm');
const get = async (p: string) => (await rapi(c.rapid, 'GET', p)).json;

/** The guest's QEMU from its pidfile, if that process lives; recorded for the reaper. */
function qemuPid(t: ExecutionContext, name: string): number | null {
  const pid = parseInt(fs.readFileSync(path.join(runDir(), 'pid', name), 'utf8'), 10);
  if (!(pid > 0) || !processAlive(pid)) return null;
  t.regex(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), new RegExp(`-name\0${name.replace(/\./g, '\\.')}\0`));
  recordPid(pid, name);
  t.teardown(() => { if (processAlive(pid)) process.kill(pid, 'SIGKILL'); unrecordPid(pid); });
  return pid;
}

/** Waits for the n-th ready line in the serial log (it is appended across boots). */
const ready = (name: string, n: number) => until(`${READY} #${n}`, () => {
  const file = path.join(runDir(), 'log', `${name}.serial.log`);
  return fs.existsSync(file) && fs.readFileSync(file, 'utf8').split(READY).length - 1 >= n;
}, 60_000);

async function ok(t: ExecutionContext, method: string, p: string, body?: unknown): Promise<any> {
  const job = await c.job(method, p, body === undefined ? {} : { body });
  if (job.status !== 'success') throw new Error(`${method} ${p}: ${job.status} ${JSON.stringify(job.opresult)}`);
  return job;
}

test.serial('kvm guest lifecycle through RAPI: create, serial, shutdown, startup, hard reboot, delete', async (t) => {
  t.timeout(300_000);
  const g = await testGuest();
  const name = 'kvm1.example.com';
  await ok(t, 'POST', '/2/instances', createBody(name, {
    // No NIC: a bridge is out of this test's scope (the policy wants one, hence ignore_ipolicy).
    hypervisor: 'kvm', nics: [], start: true, ignore_ipolicy: true,
    // Ganeti wants a root_path with a kernel_path; the guest lives in its initramfs and ignores it.
    hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/ram0', kernel_args: 'ro quiet', serial_console: true },
  }));
  const view = await get(`/2/instances/${name}`);
  t.is(view.status, 'running');
  t.is(view.hvparams.kernel_path, g.kernel);
  const pid1 = qemuPid(t, name);
  t.truthy(pid1, 'a QEMU runs for the instance');
  await ready(name, 1);

  await ok(t, 'PUT', `/2/instances/${name}/shutdown`, { timeout: 30 });
  t.is((await get(`/2/instances/${name}`)).status, 'ADMIN_down');
  t.false(processAlive(pid1!), 'the ACPI shutdown ended QEMU');
  t.false(fs.existsSync(path.join(runDir(), 'pid', name)));

  await ok(t, 'PUT', `/2/instances/${name}/startup`);
  t.is((await get(`/2/instances/${name}`)).status, 'running');
  const pid2 = qemuPid(t, name);
  t.truthy(pid2);
  t.not(pid2, pid1);
  await ready(name, 2);

  await ok(t, 'POST', `/2/instances/${name}/reboot?type=hard`);
  t.is((await get(`/2/instances/${name}`)).status, 'running');
  const pid3 = qemuPid(t, name);
  t.truthy(pid3);
  t.not(pid3, pid2, 'a hard reboot runs a new QEMU');
  t.false(processAlive(pid2!));
  await ready(name, 3);

  await ok(t, 'DELETE', `/2/instances/${name}`);
  t.false(processAlive(pid3!), 'no QEMU after removal');
  t.is((await rapi(c.rapid, 'GET', `/2/instances/${name}`)).status, 404);
  for (const dir of ['pid', 'ctrl', 'conf']) {
    const left = fs.existsSync(path.join(runDir(), dir)) ? fs.readdirSync(path.join(runDir(), dir)) : [];
    t.deepEqual(left, [], `nothing left in the run dir's ${dir}/`);
  }
});

test.serial('a kvm guest with a file disk sees it; removal leaves neither QEMU nor the disk file', async (t) => {
  t.timeout(180_000);
  const g = await testGuest();
  const name = 'kvm2.example.com';
  await ok(t, 'POST', '/2/instances', createBody(name, {
    hypervisor: 'kvm', nics: [], start: true, ignore_ipolicy: true, disk_template: 'file', disks: [{ size: 32 }],
    hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/vda', kernel_args: 'ro quiet', serial_console: true },
  }));
  t.is((await get(`/2/instances/${name}`)).status, 'running');
  const pid = qemuPid(t, name);
  t.truthy(pid);
  await ready(name, 1);
  // The ready line may still be half written: wait for its end.
  const file = path.join(runDir(), 'log', `${name}.serial.log`);
  const log = await until('the whole ready line', () => { const s = fs.readFileSync(file, 'utf8'); return /GUEST-READY[^\n]*\n/.test(s) ? s : ''; }, 30_000);
  t.regex(log, /GUEST-READY[^\n]*disks=vda/, 'the guest has its 32 MiB disk as vda');
  const disks = path.join(c.rapid.dataDir, 'storage', name);
  t.is(fs.readdirSync(disks).length, 1);

  await ok(t, 'DELETE', `/2/instances/${name}`);
  t.false(processAlive(pid!));
  t.false(fs.existsSync(disks) && fs.readdirSync(disks).length > 0, 'the disk file is gone');
});

test.serial('a hypervisor parameter the kvm driver cannot honour fails the startup job with its reason', async (t) => {
  t.timeout(60_000);
  const g = await testGuest();
  const name = 'kvm3.example.com';
  await ok(t, 'POST', '/2/instances', createBody(name, {
    hypervisor: 'kvm', nics: [], start: false, ignore_ipolicy: true,
    hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, kernel_args: 'ro quiet', cpu_mask: '0' },
  }));
  const job = await c.job('PUT', `/2/instances/${name}/startup`);
  t.is(job.status, 'error');
  t.deepEqual(job.opresult, [['OpExecError', [`Could not start instance '${name}': Hypervisor parameter cpu_mask='0' is not supported by rapid's kvm hypervisor: CPU pinning is not implemented`]]]);
  t.false(fs.existsSync(path.join(runDir(), 'pid', name)));
  await ok(t, 'DELETE', `/2/instances/${name}`);
});
