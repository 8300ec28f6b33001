// Instance actions on a 3-node fake cluster: modify, rename, disks, exports,
// migration and failover (instances really move between node workers),
// console and multi-instance allocation. Files are checked on disk: node1's
// storage is the daemon's data dir, sharedfile disks live in the cluster's
// shared directory every worker uses.
import test from 'ava';
import { existsSync, readFileSync, readdirSync, statSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startCluster, createBody, NODE, type TestCluster } from './helpers/cluster.ts';
import { rapi } from './helpers/http.ts';

const N2 = 'node2.example.com';
const N3 = 'node3.example.com';
const MIB = 2 ** 20;

let c: TestCluster;
test.before(async (t) => {
  t.timeout(120_000);
  c = await startCluster({}, [N2, N3]);
});
test.after.always(async () => { await c?.stop(); });

const get = async (p: string) => (await rapi(c.rapid, 'GET', p)).json;
const inst = (name: string) => get(`/2/instances/${name}`);
const storage = () => path.join(c.rapid.dataDir, 'storage');
const shared = () => path.join(c.rapid.dataDir, 'shared-storage');
/** Every message of a job's log, in order. */
const messages = (job: any): string[] => (job.oplog as unknown[][][]).flat().map((e) => String(e[3]));
/** The [message, ecode] of a job that failed in its first opcode. */
const failure = (job: any): [string, string?] => job.opresult[0][1];

async function create(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  // Disks of a few MiB keep these tests light; they are below Ganeti's default policy.
  const job = await c.job('POST', '/2/instances', { body: createBody(name, { ignore_ipolicy: true, ...extra }) });
  if (job.status !== 'success') throw new Error(`creating ${name}: ${JSON.stringify(job.opresult)}`);
}

/** The one file below `dir` (an instance's disk directory). */
function diskFile(dir: string): string {
  const files = readdirSync(dir);
  if (files.length !== 1) throw new Error(`${dir} holds ${files.join(', ')}`);
  return path.join(dir, files[0]!);
}

function writeMarker(file: string, offset: number, text: string): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from(text), 0, text.length, offset);
  closeSync(fd);
}

const readAt = (file: string, offset: number, len: number) => readFileSync(file).subarray(offset, offset + len).toString();

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------
// Bad input: refused before a job exists, nothing changes.

test.serial('bad input is a 400 with Ganeti\'s text and leaves the instance as it was', async (t) => {
  await create('bad1', { pnode: NODE });
  const before = await inst('bad1');
  const cases: [string, string, unknown, RegExp][] = [
    ['PUT', '/2/instances/bad1/modify', undefined, /^Body contents: Type is 'NoneType', but 'dict' is expected$/],
    ['PUT', '/2/instances/bad1/modify', { beparams: 5 }, /OP_INSTANCE_SET_PARAMS\.beparams' fails validation/],
    ['PUT', '/2/instances/bad1/modify', { custom_beparams: {}, beparams: {} }, /^Parameter 'custom_beparams' was renamed to 'beparams', but both are specified$/],
    ['PUT', '/2/instances/bad1/modify', { disks: [['add', 'x', 'y', 'z']] }, /OP_INSTANCE_SET_PARAMS\.disks' fails validation/],
    ['PUT', '/2/instances/bad1/modify', { instance_name: 'other' }, /^Can't overwrite static parameters \{'instance_name'\}$/],
    ['PUT', '/2/instances/bad1/rename', {}, /OP_INSTANCE_RENAME\.new_name' fails validation/],
    ['PUT', '/2/instances/bad1/migrate', { mode: 'bogus' }, /OP_INSTANCE_MIGRATE\.mode' fails validation/],
    ['PUT', '/2/instances/bad1/failover', { ignore_consistency: 'yes' }, /OP_INSTANCE_FAILOVER\.ignore_consistency' fails validation/],
    ['POST', '/2/instances/bad1/recreate-disks', { disks: 'x' }, /OP_INSTANCE_RECREATE_DISKS\.disks' fails validation/],
    ['POST', '/2/instances/bad1/disk/0/grow', { amount: -1 }, /OP_INSTANCE_GROW_DISK\.amount' fails validation/],
    ['PUT', '/2/instances/bad1/export', { mode: 'nowhere', destination: NODE }, /OP_BACKUP_EXPORT\.mode' fails validation/],
    ['PUT', '/2/instances/bad1/prepare-export', undefined, /OP_BACKUP_PREPARE\.mode' fails validation/],
    ['POST', '/2/instances/bad1/replace-disks', { mode: 'replace_auto', disks: '0,a' }, /^Invalid disk index passed: invalid literal for int\(\) with base 10: 'a'$/],
    ['POST', '/2/instances/bad1/replace-disks?disks=0', undefined, /OP_INSTANCE_REPLACE_DISKS\.mode' fails validation/],
    ['POST', '/2/instances-multi-alloc', {}, /^Request is missing required 'instances' field in body$/],
    ['POST', '/2/instances-multi-alloc', { instances: [5] }, /^Body contents: Type is 'int', but 'dict' is expected$/],
  ];
  const jobsBefore = (await get('/2/jobs')).length;
  for (const [method, p, body, msg] of cases) {
    const res = await c.w(method, p, body === undefined ? {} : { body });
    t.is(res.status, 400, `${method} ${p} ${JSON.stringify(body)}: ${res.text}`);
    t.regex(res.json?.message?.replace(/&#x27;/g, "'") ?? '', msg, `${method} ${p}`);
  }
  t.is((await get('/2/jobs')).length, jobsBefore, 'no job was submitted');
  const after = await inst('bad1');
  t.deepEqual({ ...after, mtime: 0 }, { ...before, mtime: 0 });
  t.is(after.serial_no, before.serial_no);
});

// ---------------------------------------------------------------------------
// Modify.

test.serial('modify: beparams (legacy memory, strings), osparams, os, offline; result as Ganeti', async (t) => {
  await create('mod1', { pnode: N2, start: false });
  let job = await c.job('PUT', '/2/instances/mod1/modify', { body: { beparams: { memory: '96M', vcpus: '2' }, osparams: { flavour: 'x' } } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['be/memory', '96M'], ['be/vcpus', '2'], ['os/flavour', 'x']]);
  let i = await inst('mod1');
  t.is(i.beparams.maxmem, 96);
  t.is(i.beparams.minmem, 96);
  t.is(i.beparams.vcpus, 2);
  t.deepEqual(i.custom_beparams, { maxmem: 96, minmem: 96, vcpus: 2 });

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { custom_beparams: { vcpus: 'default' } } });
  t.deepEqual(job.opresult[0], [['be/vcpus', 'default']]);
  t.deepEqual((await inst('mod1')).custom_beparams, { maxmem: 96, minmem: 96 });

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { offline: true } });
  t.deepEqual(job.opresult[0], [['admin_state', 'offline']]);
  t.is((await inst('mod1')).admin_state, 'offline');
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { offline: false } });
  t.deepEqual(job.opresult[0], [['admin_state', 'down']]);

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: {} });
  t.is(job.status, 'error');
  t.deepEqual(job.opresult[0], ['OpPrereqError', ['No changes submitted', 'wrong_input']]);

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { beparams: { maxmem: 'lots' } } });
  t.is(job.opresult[0][0], 'TypeEnforcementError');
  t.regex(job.opresult[0][1][0], /^'maxmem' \(value lots\) is not a valid size/);
  t.is((await inst('mod1')).beparams.maxmem, 96, 'unchanged after a failed modify');
});

test.serial('modify: hypervisor parameters are checked as the fake hypervisor does', async (t) => {
  let job = await c.job('PUT', '/2/instances/mod1/modify', { body: { hvparams: { acpi: true } } });
  t.deepEqual(job.opresult[0], ['HypervisorError', ["Parameter 'acpi' is not supported"]]);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { hvparams: { migration_mode: 'non-live' } } });
  t.deepEqual(failure(job), ['The following hypervisor parameters are global and cannot be customized at instance level, please modify them at cluster level: migration_mode', 'wrong_input']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { hvparams: { nonsense: 1 } } });
  t.deepEqual(job.opresult[0], ['TypeEnforcementError', ["Unknown parameter 'nonsense'"]]);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { hvparams: { acpi: 'default' } } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['hv/acpi', 'default']]);
});

test.serial('modify: runtime memory changes the running guest; limits and state as Ganeti', async (t) => {
  await create('mem1', { pnode: N3, beparams: { minmem: 32, maxmem: 64 } });
  t.is((await inst('mem1')).oper_ram, 64);
  let job = await c.job('PUT', '/2/instances/mem1/modify', { body: { runtime_mem: 48 } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['runtime_memory', 48]]);
  t.is((await inst('mem1')).oper_ram, 48, 'the fake guest now has 48 MiB');
  t.is((await inst('mem1')).beparams.maxmem, 64, 'configuration unchanged');

  job = await c.job('PUT', '/2/instances/mem1/modify', { body: { runtime_mem: 200 } });
  t.deepEqual(failure(job), ['Instance mem1 must have memory between 32 and 64 MB of memory unless --force is given', 'wrong_input']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { runtime_mem: 64 } });
  t.deepEqual(failure(job), ['Instance mod1 is not running', 'wrong_state']);
});

test.serial('modify: NICs in both syntaxes, add/modify/remove with -1, Ganeti\'s change list', async (t) => {
  const macs0 = (await inst('mod1'))['nic.macs'];
  let job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['add', { mac: 'aa:00:00:11:22:33', link: 'br9' }]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['nic.1', 'add:mac=aa:00:00:11:22:33,ip=None,mode=bridged,link=br9,network=None']]);
  let i = await inst('mod1');
  t.deepEqual(i['nic.macs'], [...macs0, 'aa:00:00:11:22:33']);
  t.deepEqual(i['nic.links'], ['xen-br0', 'br9']);

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['modify', -1, { ip: '192.0.2.7', name: 'eth1' }]] } });
  t.deepEqual(job.opresult[0], [
    ['nic.ip/1', '192.0.2.7'], ['nic.name/1', 'eth1'], ['nic.link/1', 'br9'], ['nic.mode/1', 'bridged'], ['nic.vlan/1', ''],
  ]);
  i = await inst('mod1');
  t.deepEqual(i['nic.ips'], [null, '192.0.2.7']);
  t.deepEqual(i['nic.names'], [null, 'eth1']);

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [[1, { link: 'br7' }]] } });
  t.deepEqual(job.opresult[0], [['nic.link/1', 'br7'], ['nic.mode/1', 'bridged'], ['nic.vlan/1', '']], 'legacy [index, params] modifies');
  t.deepEqual((await inst('mod1'))['nic.links'], ['xen-br0', 'br7']);

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['add', -1, { mac: macs0[0] }]] } });
  t.deepEqual(failure(job), [`MAC address '${macs0[0]}' already in use in cluster`, 'resource_not_unique']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['add', {}], ['remove', {}]] } });
  t.deepEqual(failure(job), ['Only one NIC add/attach/remove/detach operation is supported at a time', 'wrong_input']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['modify', 5, { ip: '192.0.2.8' }]] } });
  t.deepEqual(job.opresult[0], ['OpExecError', ['Got NIC index 5, but there are only 2']]);

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['remove', 'eth1', {}]] } });
  t.deepEqual(job.opresult[0], [['NIC/1', 'remove']]);
  t.deepEqual((await inst('mod1'))['nic.macs'], macs0);
});

test.serial('modify: NICs join and leave networks, with addresses from and back to the pool', async (t) => {
  t.is((await c.job('POST', '/2/networks', { body: { name: 'net1', network: '10.6.0.0/29', gateway: '10.6.0.1', mac_prefix: 'aa:bb:dd' } })).status, 'success');
  t.is((await c.job('PUT', '/2/networks/net1/connect', { body: { group_name: 'default', network_mode: 'routed', network_link: 'rt1' } })).status, 'success');
  let job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['add', -1, { network: 'net1', ip: 'pool' }]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.true(messages(job).includes(' - INFO: Chose IP 10.6.0.2 from network net1'));
  const [[, desc]] = job.opresult[0];
  t.regex(desc, /^add:mac=aa:bb:dd:[0-9a-f:]{8},ip=10\.6\.0\.2,mode=routed,link=rt1,network=net1$/);
  let i = await inst('mod1');
  t.deepEqual(i['nic.networks.names'], [null, 'net1']);
  t.is((await get('/2/networks/net1')).map, 'XXX....X');

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['modify', 1, { link: 'br0' }]] } });
  t.deepEqual(failure(job), ['Not allowed to change link or mode of a NIC that is connected to a network', 'wrong_input']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['modify', 0, { ip: '10.6.0.3' }]] } });
  t.deepEqual(failure(job), ['The requested IP address (10.6.0.3) belongs to network net1, but the target NIC does not.', 'wrong_state']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['modify', 1, { ip: '10.6.0.5' }]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.true(messages(job).includes(' - INFO: Reserving IP 10.6.0.5 in network net1'));
  t.is((await get('/2/networks/net1')).map, 'XX...X.X', 'the old address went back to the pool');

  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { nics: [['remove', -1, {}]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.is((await get('/2/networks/net1')).map, 'XX.....X');
  i = await inst('mod1');
  t.is(i['nic.macs'].length, 1);
});

test.serial('modify: disks added and removed as files on the node; a running instance needs hotplug to lose one', async (t) => {
  await create('dsk1', { pnode: NODE, disk_template: 'file', disks: [{ size: 8 }] });
  const dir = path.join(storage(), 'dsk1');
  t.is(readdirSync(dir).length, 1);
  let job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disks: [['add', -1, { size: 4, name: 'scratch' }]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['disk/1', 'add:size=4,mode=rw']]);
  const files = readdirSync(dir).map((f) => path.join(dir, f));
  t.is(files.length, 2);
  t.deepEqual(files.map((f) => statSync(f).size).sort((a, b) => a - b), [4 * MIB, 8 * MIB]);
  t.deepEqual((await inst('dsk1'))['disk.sizes'], [8, 4]);

  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disks: [['modify', 'scratch', { mode: 'ro', name: 'tmp' }]] } });
  t.deepEqual(job.opresult[0], [['disk.mode/1', 'ro'], ['disk.name/1', 'tmp']]);

  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disks: [['remove', -1, {}]] } });
  t.deepEqual(failure(job), ["Instance 'dsk1' is marked to be up, can't remove volume from a running instance without using hotplug", 'wrong_state']);
  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disks: [['remove', -1, {}]], hotplug: true } });
  t.deepEqual(failure(job), ['Hotplug is not possible: Hotplug is not supported: Hotplug is not supported by this hypervisor: Hotplug is not supported: Hotplug is not supported by this hypervisor', 'wrong_state']);
  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disks: [['modify', 1, { name: 'x2' }]], hotplug_if_possible: true } });
  t.is(job.status, 'success');
  t.true(messages(job).includes(' - INFO: Modification will take place without hotplugging.'));
  t.is(readdirSync(dir).length, 2, 'nothing removed by the refused changes');

  t.is((await c.job('PUT', '/2/instances/dsk1/shutdown')).status, 'success');
  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disks: [['remove', 1, {}]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['disk/1', 'remove']]);
  t.is(readdirSync(dir).length, 1, 'the removed disk\'s file is gone');
  t.deepEqual((await inst('dsk1'))['disk.sizes'], [8]);
});

test.serial('modify: disk template conversion file -> sharedfile copies the data; Ganeti refuses the others', async (t) => {
  // dsk1 is down (previous test): write a marker into its disk and convert.
  const file = diskFile(path.join(storage(), 'dsk1'));
  writeMarker(file, 3 * MIB + 5, 'rapid-marker');
  let job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disk_template: 'sharedfile' } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[0], [['disk_template', 'sharedfile']]);
  t.true(messages(job).includes("Converting disk template from 'file' to 'sharedfile'"));
  t.false(existsSync(file), 'the old file is removed');
  const moved = diskFile(path.join(shared(), 'dsk1'));
  t.is(statSync(moved).size, 8 * MIB);
  t.is(readAt(moved, 3 * MIB + 5, 12), 'rapid-marker');
  const i = await inst('dsk1');
  t.is(i.disk_template, 'sharedfile');

  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disk_template: 'sharedfile' } });
  t.deepEqual(failure(job), ['Instance already has disk template sharedfile', 'wrong_input']);
  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disk_template: 'plain' } });
  t.deepEqual(failure(job), ["Disk template 'plain' is not enabled for this cluster (enabled templates: diskless, file, sharedfile, drbd)", 'wrong_state']);
  job = await c.job('PUT', '/2/instances/mod1/modify', { body: { disk_template: 'file' } });
  t.deepEqual(failure(job), ["Conversion from the 'diskless' disk template is not supported", 'wrong_input']);
  job = await c.job('PUT', '/2/instances/dsk1/modify', { body: { disk_template: 'diskless' } });
  t.deepEqual(failure(job), ["Conversion to the 'diskless' disk template is not supported", 'wrong_input']);
  job = await c.job('PUT', '/2/instances/mem1/modify', { body: { disks: [['add', { size: 4 }]] } });
  t.deepEqual(failure(job), ['Must specify disk type on diskless instance', 'wrong_input']);
});

// ---------------------------------------------------------------------------
// Disks.

test.serial('activate-disks answers [node, iv_name, path]; deactivate-disks wants the instance down unless forced', async (t) => {
  await create('act1', { pnode: NODE, disk_template: 'file', disks: [{ size: 4 }] });
  let job = await c.job('PUT', '/2/instances/act1/activate-disks');
  t.is(job.status, 'success');
  const [[node, iv, p]] = job.opresult[0];
  t.deepEqual([node, iv], [NODE, 'disk/0']);
  t.is(p, diskFile(path.join(storage(), 'act1')));

  job = await c.job('PUT', '/2/instances/act1/deactivate-disks');
  t.deepEqual(failure(job), ["Instance 'act1' is marked to be up, cannot shutdown disks", 'wrong_state']);
  t.is((await c.job('PUT', '/2/instances/act1/deactivate-disks?force=1')).status, 'success');

  rmSync(p);
  job = await c.job('PUT', '/2/instances/act1/activate-disks');
  t.deepEqual(job.opresult[0], ['OpExecError', ['Cannot activate block devices']]);
  t.true(messages(job).includes(` - WARNING: Could not prepare block device disk/0 on node ${NODE} (is_primary=True, pass=2): ${p}: No such file`));
});

test.serial('recreate-disks makes missing files again (instance down), refuses existing ones', async (t) => {
  let job = await c.job('POST', '/2/instances/act1/recreate-disks', { body: {} });
  t.deepEqual(failure(job), ["Instance 'act1' is marked to be up, cannot recreate disks", 'wrong_state']);
  await c.job('PUT', '/2/instances/act1/shutdown');
  job = await c.job('POST', '/2/instances/act1/recreate-disks', { body: { disks: [[0, { size: 12 }]] } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  const p = diskFile(path.join(storage(), 'act1'));
  t.is(statSync(p).size, 12 * MIB);
  t.deepEqual((await inst('act1'))['disk.sizes'], [12]);
  job = await c.job('POST', '/2/instances/act1/recreate-disks', { body: { disks: [0] } });
  t.is(job.status, 'error');
  t.regex(job.opresult[0][1][0], /^Can't create block device disk\/0 on node node1\.example\.com for instance act1: .*: can't create: EEXIST/);
  job = await c.job('POST', '/2/instances/act1/recreate-disks', { body: { disks: [3] } });
  t.deepEqual(failure(job), ["Invalid disk index '3'", 'wrong_input']);
  job = await c.job('POST', '/2/instances/mod1/recreate-disks', { body: {} });
  t.deepEqual(failure(job), ["Instance 'mod1' has no disks", 'wrong_input']);
});

test.serial('disk grow extends the file on disk, online and offline; absolute sizes', async (t) => {
  const p = diskFile(path.join(storage(), 'act1'));
  // A 16M disk is below the group's instance policy (disk-size >= 1024), as Ganeti checks it.
  let job = await c.job('POST', '/2/instances/act1/disk/0/grow', { body: { amount: 4, wait_for_sync: false } });
  t.deepEqual(failure(job), ['Growing disk 0 violates policy: disk-size/0 value 16 is not in range [1024, 1048576]', 'wrong_input']);
  t.is(statSync(p).size, 12 * MIB, 'nothing grew');
  job = await c.job('POST', '/2/instances/act1/disk/0/grow', { body: { amount: 4, wait_for_sync: false, ignore_ipolicy: true } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.true(messages(job).includes(' - WARNING: Growing disk 0 violates policy: disk-size/0 value 16 is not in range [1024, 1048576]'));
  t.true(messages(job).includes("Growing disk 0 of instance 'act1' by 4M to 16M"));
  t.is(statSync(p).size, 16 * MIB);
  t.deepEqual((await inst('act1'))['disk.sizes'], [16]);

  await c.job('PUT', '/2/instances/act1/startup');
  job = await c.job('POST', '/2/instances/act1/disk/0/grow', { body: { amount: 2048, absolute: true } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.true(messages(job).includes("Growing disk 0 of instance 'act1' by 2.0G to 2.0G"));
  t.is(statSync(p).size, 2048 * MIB);
  t.is((await inst('act1')).status, 'running');

  job = await c.job('POST', '/2/instances/act1/disk/0/grow', { body: { amount: 1024, absolute: true } });
  t.deepEqual(failure(job), ['Requested size (1.0G) is smaller than current disk size (2.0G)', 'wrong_state']);
  job = await c.job('POST', '/2/instances/act1/disk/3/grow', { body: { amount: 1 } });
  t.deepEqual(failure(job), ['Invalid disk index: 3 (instace has disks 0 to 0', 'wrong_input']);
});

test.serial('replace-disks: both request forms submit Ganeti\'s opcode; non-DRBD instances are refused', async (t) => {
  let res = await c.w('POST', '/2/instances/act1/replace-disks?mode=replace_on_secondary&disks=0');
  t.is(res.status, 200);
  let job = await c.job('POST', '/2/instances/act1/replace-disks?mode=replace_on_secondary&disks=0');
  t.deepEqual(job.ops[0].disks, [0]);
  t.deepEqual(failure(job), ['The instance has a strange layout, expected one secondary but found 0', 'internal_error']);
  job = await c.job('POST', '/2/instances/act1/replace-disks', { body: { mode: 'replace_new_secondary', disks: [0] } });
  t.deepEqual(failure(job), ['When changing the secondary either an iallocator script must be used or the new node given', 'wrong_input']);
  res = await c.w('POST', '/2/instances/act1/replace-disks', { body: { mode: 'replace_auto', disks: '0, 1' } });
  t.is(res.status, 200);
});

// ---------------------------------------------------------------------------
// Rename.

test.serial('rename moves the disk directory and keeps the instance', async (t) => {
  const job0 = await c.job('PUT', '/2/instances/act1/rename', { body: { new_name: 'act2', name_check: false, ip_check: false } });
  t.deepEqual(failure(job0), ["Instance 'act1' is marked to be up, cannot rename", 'wrong_state']);
  await c.job('PUT', '/2/instances/act1/shutdown');
  const uuid = (await inst('act1')).uuid;
  const job = await c.job('PUT', '/2/instances/act1/rename', { body: { new_name: 'act2', name_check: false, ip_check: false } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult, ['act2']);
  t.false(existsSync(path.join(storage(), 'act1')));
  t.is(statSync(diskFile(path.join(storage(), 'act2'))).size, 2048 * MIB);
  t.is((await rapi(c.rapid, 'GET', '/2/instances/act1')).status, 404);
  t.is((await inst('act2')).uuid, uuid);
  t.is((await c.job('PUT', '/2/instances/act2/activate-disks')).status, 'success', 'the renamed disk is found');

  const dup = await c.job('PUT', '/2/instances/act2/rename', { body: { new_name: 'mod1', name_check: false, ip_check: false } });
  t.deepEqual(failure(dup), ["Instance 'mod1' is already in the cluster", 'already_exists']);
  const ip = await c.job('PUT', '/2/instances/act2/rename', { body: { new_name: 'x', name_check: false } });
  t.deepEqual(failure(ip), ['IP address check requires a name check', 'wrong_input']);
});

// ---------------------------------------------------------------------------
// Migration and failover: the guest really moves between workers.

test.serial('migrate moves a running sharedfile instance to the target worker with its memory', async (t) => {
  await create('mig1', { pnode: N2, disk_template: 'sharedfile', disks: [{ size: 4 }], beparams: { memory: 64 } });
  let job = await c.job('PUT', '/2/instances/mig1/modify', { body: { runtime_mem: 48, force: true } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  job = await c.job('PUT', '/2/instances/mig1/migrate', { body: { target_node: N3, mode: 'live' } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(messages(job), [
    'Migrating instance mig1',
    '* checking disk consistency between source and target',
    `* closing instance disks on node ${N3}`,
    `* opening instance disks on node ${N2} in shared mode`,
    `* opening instance disks on node ${N3} in shared mode`,
    `* preparing ${N3} to accept the instance`,
    `* migrating instance to ${N3}`,
    '* starting memory transfer',
    '* memory transfer complete',
    `* closing instance disks on node ${N2}`,
    `* opening instance disks on node ${N3} in exclusive mode`,
    '* done',
  ]);
  const i = await inst('mig1');
  t.is(i.pnode, N3);
  t.is(i.status, 'running');
  t.is(i.oper_ram, 48, 'the guest kept its memory');
  t.false((await get(`/2/nodes/${N2}`)).pinst_list.includes('mig1'));
  t.true((await get(`/2/nodes/${N3}`)).pinst_list.includes('mig1'));
  t.is((await c.job('POST', '/2/instances/mig1/reboot')).status, 'success', 'the new node runs it');

  job = await c.job('PUT', '/2/instances/mig1/migrate', { body: { target_node: N3 } });
  t.deepEqual(failure(job), [`Cannot migrate instance mig1 to its primary (${N3})`, 'wrong_state']);
  job = await c.job('PUT', '/2/instances/mig1/migrate', { body: { target_node: N2, iallocator: 'hail' } });
  t.deepEqual(failure(job), ['Do not specify both, iallocator and node', 'wrong_input']);
});

test.serial('migrate without a target lets the allocator choose; a stopped instance cannot migrate', async (t) => {
  await create('mig2', { pnode: NODE });
  let job = await c.job('PUT', '/2/instances/mig2/migrate', { body: { mode: 'non-live' } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  const moved = (await inst('mig2')).pnode;
  t.not(moved, NODE);
  t.true(messages(job).includes(` - INFO: Selected nodes for instance mig2 via iallocator hail: ${moved}`));
  t.is((await inst('mig2')).status, 'running');

  await c.job('PUT', '/2/instances/mig2/shutdown');
  job = await c.job('PUT', '/2/instances/mig2/migrate', { body: { target_node: NODE } });
  t.deepEqual(failure(job), ["Can't migrate, please use failover: Instance mig2 is not running", 'wrong_state']);
  job = await c.job('PUT', '/2/instances/mig2/migrate', { body: { target_node: NODE, allow_failover: true } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.true(messages(job).includes(' - INFO: Instance is marked down or offline, fallback allowed, switching to failover'));
  t.is((await inst('mig2')).pnode, NODE);
  t.is((await inst('mig2')).status, 'ADMIN_down');
});

test.serial('file disks cannot migrate or fail over (Ganeti\'s texts)', async (t) => {
  let job = await c.job('PUT', '/2/instances/act2/migrate', { body: { target_node: N2 } });
  t.deepEqual(failure(job), ["Instance's disk layout 'file' does not allow migrations", 'wrong_state']);
  job = await c.job('PUT', '/2/instances/act2/failover', { body: { target_node: N2 } });
  t.deepEqual(failure(job), ["Instance's disk layout 'file' does not allow failovers", 'wrong_state']);
});

test.serial('failover stops the guest on one worker and starts it on the other', async (t) => {
  const job = await c.job('PUT', '/2/instances/mig1/failover', { body: { target_node: N2 } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.is(messages(job)[0], 'Failover instance mig1');
  t.true(messages(job).includes(`* starting the instance on the target node ${N2}`));
  const i = await inst('mig1');
  t.is(i.pnode, N2);
  t.is(i.status, 'running');
  t.false((await get(`/2/nodes/${N3}`)).pinst_list.includes('mig1'));
});

test.serial('failover works when the primary node\'s worker is dead (ignore_consistency)', async (t) => {
  await create('fo1', { pnode: N3, disk_template: 'sharedfile', disks: [{ size: 4 }] });
  await c.workers.get(N3)!.kill9();
  c.workers.delete(N3);
  await until(() => inst('fo1'), (i) => i.status === 'ERROR_nodedown');

  let job = await c.job('PUT', '/2/instances/fo1/failover', { body: { target_node: NODE } });
  t.is(job.status, 'error');
  t.deepEqual(job.opresult[0], ['OpExecError', [`Could not shutdown instance fo1 on node ${N3}: Node ${N3} is not responding (its node worker sends no heartbeat)`]]);
  t.is((await inst('fo1')).pnode, N3, 'still configured on the dead node');

  job = await c.job('PUT', '/2/instances/fo1/failover', { body: { target_node: NODE, ignore_consistency: true } });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.true(messages(job).some((m) => m.startsWith(` - WARNING: Could not shutdown instance fo1 on node ${N3}, proceeding anyway`)));
  const i = await inst('fo1');
  t.is(i.pnode, NODE);
  t.is(i.status, 'running');
  t.true((await get(`/2/nodes/${NODE}`)).pinst_list.includes('fo1'));

  job = await c.job('PUT', '/2/instances/mig2/migrate', { body: { target_node: N3 } });
  t.is(job.status, 'error');
  await c.addNode(N3, '127.0.0.3');
});

// ---------------------------------------------------------------------------
// Console, exports, multi-allocation.

test.serial('console: Ganeti\'s message for the fake hypervisor; 503 when the instance is down', async (t) => {
  const res = await rapi(c.rapid, 'GET', '/2/instances/fo1/console', { user: 'reader', password: 'readerpw' });
  t.is(res.status, 200);
  t.deepEqual(res.json, { instance: 'fo1', kind: 'msg', message: 'Console not available for fake hypervisor' });
  const down = await rapi(c.rapid, 'GET', '/2/instances/mig2/console', { user: 'reader', password: 'readerpw' });
  t.is(down.status, 503);
  t.is(down.json.message, 'Instance console unavailable');
  t.is((await rapi(c.rapid, 'GET', '/2/instances/fo1/console')).status, 401, 'needs read access');
  t.is((await rapi(c.rapid, 'GET', '/2/instances/nosuch/console', { user: 'reader', password: 'readerpw' })).status, 404);
});

test.serial('export writes config.ini and the disk images into the target node\'s export directory', async (t) => {
  // fo1 (sharedfile, running on node1): write data, stop it, export it from node2 after a failover.
  const disk = diskFile(path.join(shared(), 'fo1'));
  writeMarker(disk, 2 * MIB, 'exported-bytes');
  await c.job('PUT', '/2/instances/fo1/shutdown');
  t.is((await c.job('PUT', '/2/instances/fo1/failover', { body: { target_node: N2 } })).status, 'success');

  let job = await c.job('PUT', '/2/instances/fo1/export', { body: { mode: 'local', destination: NODE, shutdown: false } });
  t.is(job.status, 'success', JSON.stringify(job.opresult) + messages(job).join('\n'));
  t.deepEqual(job.opresult[0], [true, [true]]);
  t.true(messages(job).includes(`Exporting disk/0 from ${N2} to ${NODE}`));
  t.true(messages(job).includes(`Finalizing export on ${NODE}`));
  const dir = path.join(c.rapid.dataDir, 'export', 'fo1');
  const i = await inst('fo1');
  const image = path.join(dir, i['disk.uuids'][0]);
  t.is(statSync(image).size, 4 * MIB);
  t.is(readAt(image, 2 * MIB, 14), 'exported-bytes');
  const ini = readFileSync(path.join(dir, 'config.ini'), 'utf8');
  t.regex(ini, /^\[export\]\nversion = 0\ntimestamp = \d+\nsource = [0-9a-f-]{36}\nos = noop\ncompression = none\n\n\[instance\]\nname = fo1\n/);
  t.regex(ini, /\ndisk_template = sharedfile\n/);
  t.regex(ini, new RegExp(`\\ndisk0_ivname = disk/0\\ndisk0_dump = ${i['disk.uuids'][0]}\\ndisk0_size = 4\\ndisk0_name = None\\ndisk_count = 1\\n`));
  t.regex(ini, /\n\[backend\]\n(.+\n)*maxmem = 128\n/);
  t.false(existsSync(path.join(c.rapid.dataDir, 'export', 'fo1.new')));

  // A running instance with file disks cannot be snapshotted (Ganeti's rule).
  await c.job('PUT', '/2/instances/dsk1/startup');
  job = await c.job('PUT', '/2/instances/dsk1/export', { body: { mode: 'local', destination: N2, shutdown: false } });
  t.deepEqual(job.opresult[0], ['OpExecError', ['Not all disks could be snapshotted, and you requested a live export; aborting']]);
  job = await c.job('PUT', '/2/instances/dsk1/export', { body: { mode: 'remote', destination: [] } });
  t.deepEqual(failure(job), ['Missing X509 key name for encryption', 'wrong_input']);

  job = await c.job('PUT', '/2/instances/fo1/prepare-export?mode=local');
  t.is(job.status, 'success');
  t.deepEqual(job.opresult, [null]);
});

test.serial('multi-alloc submits one creation job per instance, on nodes the allocator picked', async (t) => {
  const base = (name: string) => {
    const { __version__: _, ...op } = createBody(name);
    return op;
  };
  const body = { instances: [base('ma1'), base('ma2')] };
  const res = await c.w('POST', '/2/instances-multi-alloc', { body });
  t.is(res.status, 200);
  const { waitForJob } = await import('./helpers/http.ts');
  const job = await waitForJob(c.rapid, res.json, { user: 'admin', password: 'adminpw' });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  const result = job.opresult[0];
  t.deepEqual(Object.keys(result), ['allocatable', 'failed', 'jobs']);
  t.deepEqual(result.allocatable, ['ma1', 'ma2']);
  t.deepEqual(result.failed, []);
  t.is(result.jobs.length, 2);
  for (const [ok, id] of result.jobs) {
    t.true(ok);
    const child = await waitForJob(c.rapid, id, { user: 'admin', password: 'adminpw' });
    t.is(child.status, 'success', JSON.stringify(child.opresult));
    t.is(child.ops[0].OP_ID, 'OP_INSTANCE_CREATE');
    t.is(child.ops[0].comment, 'Submitted by OP_INSTANCE_MULTI_ALLOC');
    t.truthy(child.ops[0].pnode);
  }
  for (const name of ['ma1', 'ma2']) t.is((await inst(name)).status, 'running');

  const dup = await c.job('POST', '/2/instances-multi-alloc', { body: { instances: [base('ma3'), base('ma3')] } });
  t.deepEqual(failure(dup), ['There are duplicate instance names: ma3', 'wrong_input']);
  const mixed = await c.job('POST', '/2/instances-multi-alloc', { body: { instances: [{ ...base('ma4'), pnode: NODE }, base('ma5')] } });
  t.deepEqual(failure(mixed), ['There are instance objects providing pnode/snode while others do not', 'wrong_input']);
});
