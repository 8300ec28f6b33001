// A kvm guest's bridged NIC, for real: the test makes a host (network
// namespace) with a Linux bridge, runs a node worker inside it, creates an
// instance there with a NIC on the bridge, and the guest pings the bridge's
// address. Nothing outside the namespace is touched, and it is deleted after.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { READY, Serial, killByPidfiles, testGuest } from './helpers/guest.ts';
import { until } from './helpers/until.ts';
import { processAlive } from '../hypervisor/kvm.ts';

const NS = `rapid-nic-${process.pid}`;
const NET = `10.213.${process.pid % 250}`;
const BRIDGE = 'br-guests';
const NODE2 = 'node2.example.com';
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

let c: TestCluster;
test.before(async (t) => {
  t.timeout(300_000);
  await testGuest();
  ip('netns', 'add', NS);
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  ip('-n', NS, 'link', 'add', BRIDGE, 'type', 'bridge');
  ip('-n', NS, 'addr', 'add', `${NET}.1/24`, 'dev', BRIDGE);
  ip('-n', NS, 'link', 'set', BRIDGE, 'up');
  c = await startCluster({ RAPID_HYPERVISORS: 'fake,kvm', RAPID_KVM_ACCEL: 'tcg' });
  await c.addNode(NODE2, `${NET}.1`, { netns: NS, env: { RAPID_KVM_ACCEL: 'tcg' } });
});
test.after.always(async () => {
  const run = c?.nodeDataDir(NODE2) && path.join(c.nodeDataDir(NODE2)!, 'kvm', 'pid');
  await c?.stop();
  if (run) killByPidfiles(run);
  try { ip('netns', 'del', NS); } catch { /* never made */ }
});

test.serial('a guest on a bridged NIC reaches its host through the bridge', async (t) => {
  t.timeout(300_000);
  const g = await testGuest();
  const name = 'kvmnic.example.com';
  const mac = 'aa:00:00:35:6e:01';
  const job = await c.job('POST', '/2/instances', {
    body: createBody(name, {
      pnode: NODE2, hypervisor: 'kvm', start: true, ignore_ipolicy: true,
      nics: [{ mode: 'bridged', link: BRIDGE, mac }],
      hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/ram0', kernel_args: 'ro quiet', serial_console: true },
    }),
  });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  const view = (await c.w('GET', `/2/instances/${name}`)).json;
  t.is(view.status, 'running');
  t.deepEqual(view['nic.bridges'], [BRIDGE]);

  const run = path.join(c.nodeDataDir(NODE2)!, 'kvm');
  const qemu = parseInt(fs.readFileSync(path.join(run, 'pid', name), 'utf8'), 10);
  t.true(processAlive(qemu));
  // The tap QEMU made is a port of the bridge, inside the node's namespace only.
  const ports = ip('-n', NS, '-o', 'link', 'show', 'master', BRIDGE);
  t.regex(ports, /rt[0-9a-f]{12}/);
  t.notRegex(ip('-o', 'link', 'show'), new RegExp(ports.match(/rt[0-9a-f]{12}/)![0]), 'no tap in the root namespace');

  const log = path.join(run, 'log', `${name}.serial.log`);
  await until('the guest', () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(READY), 60_000);
  const serial = await Serial.connect(path.join(run, 'ctrl', `${name}.serial`));
  t.teardown(() => serial.close());
  t.regex(await serial.run('cat /sys/class/net/eth0/address'), new RegExp(mac));
  await serial.run(`ip link set eth0 up; ip addr add ${NET}.2/24 dev eth0`);
  t.regex(await serial.run(`ping -c 2 -W 5 ${NET}.1`), /2 packets received/);
  serial.close();

  t.is((await c.job('DELETE', `/2/instances/${name}`)).status, 'success');
  t.false(processAlive(qemu));
  t.notRegex(ip('-n', NS, '-o', 'link', 'show'), /rt[0-9a-f]{12}/, 'the tap went with QEMU');
});

test.serial('NIC hotplug: a NIC added to and removed from the running guest, on the bridge', async (t) => {
  t.timeout(300_000);
  const g = await testGuest();
  const name = 'kvmhotnic.example.com';
  const job = await c.job('POST', '/2/instances', {
    body: createBody(name, {
      pnode: NODE2, hypervisor: 'kvm', start: true, ignore_ipolicy: true, nics: [],
      hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/ram0', kernel_args: 'ro quiet', serial_console: true },
    }),
  });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  const run = path.join(c.nodeDataDir(NODE2)!, 'kvm');
  const log = path.join(run, 'log', `${name}.serial.log`);
  await until('the guest', () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(READY), 60_000);
  const serial = await Serial.connect(path.join(run, 'ctrl', `${name}.serial`));
  t.teardown(() => serial.close());
  const mac = 'aa:00:00:35:6e:02';
  const add = await c.job('PUT', `/2/instances/${name}/modify`, { body: { nics: [['add', { mode: 'bridged', link: BRIDGE, mac }]], hotplug: true } });
  t.is(add.status, 'success', JSON.stringify(add.opresult));
  t.deepEqual(add.opresult[0].at(-1), ['nic/0', 'hotplug:done']);
  let seen = '';
  for (let i = 0; !/aa:00:00:35:6e:02/.test(seen) && i < 100; i++) seen = await serial.run('cat /sys/class/net/eth*/address 2>/dev/null');
  t.regex(seen, /aa:00:00:35:6e:02/, 'the guest has the new NIC');
  t.regex(ip('-n', NS, '-o', 'link', 'show', 'master', BRIDGE), /rt[0-9a-f]{12}/, 'its tap is a bridge port');
  await serial.run(`ip link set eth0 up; ip addr add ${NET}.3/24 dev eth0`);
  t.regex(await serial.run(`ping -c 1 -W 5 ${NET}.1`), /1 packets received/);

  const del = await c.job('PUT', `/2/instances/${name}/modify`, { body: { nics: [['remove', 0, {}]], hotplug: true } });
  t.is(del.status, 'success', JSON.stringify(del.opresult));
  t.deepEqual(del.opresult[0].at(-1), ['nic/0', 'hotplug:done']);
  t.notRegex(await serial.run('ls /sys/class/net'), /eth0/, 'the guest lost it');
  t.notRegex(ip('-n', NS, '-o', 'link', 'show'), /rt[0-9a-f]{12}/, 'and its tap is gone');
  serial.close();
  t.is((await c.job('DELETE', `/2/instances/${name}`)).status, 'success');
});
