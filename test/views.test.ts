// RAPI field projections (rapi/views.ts) on an in-memory snapshot: key sets
// and order against rlib2's lists and the recorded 3.0.2 responses, Ganeti's
// status and role rules, filled parameters, and a round trip through htools.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  G_FIELDS, I_FIELDS, INFO_FIELDS, J_FIELDS, J_FIELDS_BULK, N_FIELDS, NET_FIELDS,
  clusterInfo, groupDict, instanceDict, niceSort, nodeDetail, nodeDict, nodeRole, nodeRoleWord,
} from '../rapi/views.ts';
import {
  BEC_DEFAULTS, DISK_TEMPLATES, HVC_DEFAULTS, IPOLICY_DEFAULTS, NDC_DEFAULTS, SOFTWARE_VERSION,
} from '../src/defaults.ts';
import type { Instance, Node } from '../src/model.ts';
import { FakeSnapshot } from './helpers/fake-snapshot.ts';
import { tempDir } from './helpers/pids.ts';

import { REFERENCE_DIR as REFERENCE } from './helpers/reference.ts';
const run = promisify(execFile);

interface Vector { name: string; body: string }
const vectors: Vector[] = JSON.parse(fs.readFileSync(path.join(REFERENCE, 'ganeti-vectors.json'), 'utf8'));
const vectorBody = (name: string): unknown => JSON.parse(vectors.find((v) => v.name === name)!.body);

/** The `/2/info` key table of rapi-reference.md §5, in order. */
function referenceInfoKeys(): string[] {
  const md = fs.readFileSync(path.join(REFERENCE, 'rapi-reference.md'), 'utf8');
  const section = md.slice(md.indexOf('**`/2/info` GET:**'), md.indexOf('RAPI adds the aliases'));
  return [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
}

/** Two nodes, three instances (running, stopped, DRBD across both nodes). */
function cluster() {
  const s = new FakeSnapshot();
  const n1 = s.addNode('node1.example.com', { master: true });
  const n2 = s.addNode('node2.example.com');
  const i1 = s.addInstance('inst1.example.com', n1, { running: true });
  const i2 = s.addInstance('inst2.example.com', n2, { beparams: { maxmem: 512, minmem: 256 } });
  const i3 = s.addInstance('inst10.example.com', n1, {
    running: true, disk_template: 'drbd', secondary_nodes: [n2.uuid],
    disks: [{ ...i1.disks[0]!, uuid: 'd3', dev_type: 'drbd', size: 1024 }],
  });
  return { s, n1, n2, i1, i2, i3 };
}

test('field lists are rlib2.py\'s', (t) => {
  t.is(I_FIELDS.length, 35);
  t.is(N_FIELDS.length, 31);
  t.is(G_FIELDS.length, 15);
  t.is(NET_FIELDS.length, 17);
  t.deepEqual([...J_FIELDS_BULK], ['id', 'ops', 'status', 'summary', 'opstatus', 'received_ts', 'start_ts', 'end_ts']);
  t.deepEqual([...J_FIELDS], [...J_FIELDS_BULK, 'oplog', 'opresult']);
});

test('instance dict: keys in I_FIELDS order, as the recorded bulk answer', (t) => {
  const { s, i1 } = cluster();
  const d = instanceDict(s, i1);
  t.deepEqual(Object.keys(d), [...I_FIELDS]);
  const [recorded] = vectorBody('instances bulk') as Record<string, unknown>[];
  t.deepEqual(Object.keys(d), Object.keys(recorded!));
  t.deepEqual(Object.keys(d['beparams'] as object).sort(), Object.keys(recorded!['beparams'] as object).sort());
});

test('node dict and detail: keys as N_FIELDS and the recorded answers', (t) => {
  const { s, n1 } = cluster();
  const [bulk] = vectorBody('nodes bulk') as Record<string, unknown>[];
  t.deepEqual(Object.keys(nodeDict(s, n1)), [...N_FIELDS]);
  t.deepEqual(Object.keys(nodeDict(s, n1)), Object.keys(bulk!));
  const detail = nodeDetail(s, n1);
  t.deepEqual(Object.keys(detail), Object.keys(vectorBody('node detail (alias secondary_ip)') as object));
  t.is(detail['secondary_ip'], n1.secondary_ip);
});

test('group dict: keys, filled ipolicy/ndparams/diskparams, sorted members', (t) => {
  const { s } = cluster();
  s.addNode('node3.example.com');
  s.group.ipolicy = { 'vcpu-ratio': 2, std: { 'memory-size': 256 } };
  s.group.ndparams = { spindle_count: 3 };
  s.group.diskparams = { drbd: { metavg: 'other' } };
  s.touch();
  const g = groupDict(s, s.group);
  t.deepEqual(Object.keys(g), [...G_FIELDS]);
  t.deepEqual(g['node_list'], ['node1.example.com', 'node2.example.com', 'node3.example.com']);
  t.is(g['node_cnt'], 3);
  const ipolicy = g['ipolicy'] as Record<string, any>;
  t.is(ipolicy['vcpu-ratio'], 2);
  t.is(ipolicy['spindle-ratio'], 32);
  t.deepEqual(ipolicy['std'], { ...IPOLICY_DEFAULTS['std'] as object, 'memory-size': 256 });
  t.deepEqual(ipolicy['minmax'], IPOLICY_DEFAULTS['minmax']);
  t.deepEqual(ipolicy['disk-templates'], ['diskless', 'drbd', 'file', 'sharedfile']);
  t.deepEqual(g['ndparams'], { ...NDC_DEFAULTS, spindle_count: 3 });
  const dp = g['diskparams'] as Record<string, Record<string, unknown>>;
  t.deepEqual(Object.keys(dp), [...DISK_TEMPLATES]);
  t.is(dp['drbd']!['metavg'], 'other');
  t.is(dp['drbd']!['resync-rate'], 61440);
  t.deepEqual(g['custom_ndparams'], { spindle_count: 3 });
});

test('beparams are filled and carry memory = maxmem', (t) => {
  const { s, i1, i2 } = cluster();
  t.deepEqual(instanceDict(s, i1)['beparams'], { ...BEC_DEFAULTS, memory: 128 });
  t.deepEqual(instanceDict(s, i2)['beparams'], { ...BEC_DEFAULTS, maxmem: 512, minmem: 256, memory: 512 });
  t.deepEqual(instanceDict(s, i2)['custom_beparams'], { maxmem: 512, minmem: 256 });
});

test('hvparams: cluster ⊕ os_hvp ⊕ custom, without the cluster-wide globals', (t) => {
  const { s, i1, i2 } = cluster();
  s.cluster = { ...s.cluster, os_hvp: { 'debian-image': { kvm: { kernel_args: 'quiet' } } } };
  i2.hvparams = { boot_order: 'cdrom' };
  s.touch();
  const hv1 = instanceDict(s, i1)['hvparams'] as Record<string, unknown>;
  const hv2 = instanceDict(s, i2)['hvparams'] as Record<string, unknown>;
  for (const g of ['migration_port', 'migration_bandwidth', 'migration_mode']) t.false(g in hv1);
  t.is(Object.keys(hv1).length, Object.keys(HVC_DEFAULTS['kvm']!).length - 3);
  t.is(hv1['kernel_args'], 'quiet');
  t.is(hv1['boot_order'], 'disk');
  t.is(hv2['boot_order'], 'cdrom');
  t.is(hv2['kernel_args'], 'quiet');
  t.deepEqual(instanceDict(s, i2)['custom_hvparams'], { boot_order: 'cdrom' });
});

test('nics and disks', (t) => {
  const { s, i1, i3 } = cluster();
  const net = {
    uuid: 'net-uuid', name: 'net1', ctime: 0, mtime: 0, serial_no: 1, tags: [], network: '10.0.0.0/28',
    gateway: null, network6: null, gateway6: null, mac_prefix: null, reservations: '.'.repeat(16), ext_reservations: '.'.repeat(16),
  };
  s.networks.set(net.uuid, net);
  i1.nics = [
    { ...i1.nics[0]!, ip: '10.0.0.2', network: net.uuid, name: 'eth0' },
    { ...i1.nics[0]!, uuid: 'n2', nicparams: { mode: 'routed', link: 'rt1' } },
  ];
  s.touch();
  const d = instanceDict(s, i1);
  t.deepEqual(d['nic.ips'], ['10.0.0.2', null]);
  t.deepEqual(d['nic.modes'], ['bridged', 'routed']);
  t.deepEqual(d['nic.links'], ['xen-br0', 'rt1']);
  t.deepEqual(d['nic.bridges'], ['xen-br0', null]);
  t.deepEqual(d['nic.networks'], [net.uuid, null]);
  t.deepEqual(d['nic.networks.names'], ['net1', null]);
  t.deepEqual(d['nic.names'], ['eth0', null]);
  t.deepEqual(d['custom_nicparams'], [{}, { mode: 'routed', link: 'rt1' }]);
  t.deepEqual(d['disk.sizes'], [10240]);
  t.deepEqual(d['disk.spindles'], [null]);
  t.is(d['disk_usage'], 10240);
  t.is(instanceDict(s, i3)['disk_usage'], 1024 + 128);
  t.deepEqual(instanceDict(s, i3)['snodes'], ['node2.example.com']);
  t.is(d['pnode'], 'node1.example.com');
  t.is(d['ctime'], 1700000000.5);
});

/** One instance on `node`, in the given admin and runtime state. */
function statusOf(setup: (s: FakeSnapshot, node: Node, inst: Instance) => void): Record<string, unknown> {
  const s = new FakeSnapshot();
  const node = s.addNode('node1.example.com', { master: true });
  const inst = s.addInstance('inst1.example.com', node);
  setup(s, node, inst);
  s.touch();
  return instanceDict(s, inst);
}

const STATUS_CASES: [string, (s: FakeSnapshot, n: Node, i: Instance) => void, string, unknown, unknown][] = [
  // title, setup, status, oper_state, oper_ram
  ['running', (s, _n, i) => { i.admin_state = 'up'; s.run(i); }, 'running', true, 128],
  ['paused counts as running', (s, _n, i) => { i.admin_state = 'up'; s.run(i, undefined, 'paused'); }, 'running', true, 128],
  ['admin down, running', (s, _n, i) => { s.run(i); }, 'ERROR_up', true, 128],
  ['admin up, not running', (_s, _n, i) => { i.admin_state = 'up'; }, 'ERROR_down', false, null],
  ['admin up, crashed', (s, _n, i) => { i.admin_state = 'up'; s.run(i, undefined, 'crashed'); }, 'ERROR_down', false, null],
  ['admin down', () => {}, 'ADMIN_down', false, null],
  ['admin down, stopped report', (s, _n, i) => { s.run(i, undefined, 'stopped'); }, 'ADMIN_down', false, null],
  ['admin offline', (_s, _n, i) => { i.admin_state = 'offline'; }, 'ADMIN_offline', false, null],
  ['user shutdown, enabled', (s, _n, i) => {
    s.cluster = { ...s.cluster, enabled_user_shutdown: true };
    i.admin_state_source = 'user';
  }, 'USER_down', false, null],
  ['user shutdown recorded, feature disabled', (_s, _n, i) => { i.admin_state_source = 'user'; }, 'ADMIN_down', false, null],
  ['shut down inside, kvm user_shutdown on', (s, _n, i) => {
    s.cluster = { ...s.cluster, enabled_user_shutdown: true };
    i.admin_state = 'up';
    i.hvparams = { user_shutdown: true };
    s.run(i, undefined, 'user_down');
  }, 'USER_down', true, 128],
  ['shut down inside, kvm user_shutdown off', (s, _n, i) => {
    s.cluster = { ...s.cluster, enabled_user_shutdown: true };
    i.admin_state = 'up';
    s.run(i, undefined, 'user_down');
  }, 'ERROR_down', true, 128],
  ['shut down inside, admin down', (s, _n, i) => { s.run(i, undefined, 'user_down'); }, 'ADMIN_down', true, 128],
  ['node down', (s, n, i) => { i.admin_state = 'up'; s.runtimes.delete(n.uuid); }, 'ERROR_nodedown', null, null],
  ['node offline', (s, n, i) => { i.admin_state = 'up'; s.run(i); n.offline = true; }, 'ERROR_nodeoffline', null, null],
  ['running on another node', (s, _n, i) => {
    i.admin_state = 'up';
    s.run(i, s.addNode('node2.example.com'));
  }, 'ERROR_wrongnode', true, 128],
];

for (const [title, setup, status, operState, operRam] of STATUS_CASES) {
  test(`status: ${title} → ${status}`, (t) => {
    const d = statusOf(setup);
    t.is(d['status'], status);
    t.is(d['oper_state'], operState);
    t.is(d['oper_ram'], operRam);
    t.is(d['oper_vcpus'], operRam === null ? null : 1);
  });
}

test('node roles: letters and words', (t) => {
  const { s, n1, n2 } = cluster();
  const n3 = s.addNode('node3', { master_candidate: true });
  const n4 = s.addNode('node4', { drained: true });
  const n5 = s.addNode('node5', { offline: true });
  const n6 = s.addNode('node6', { drained: true, offline: true });
  const got = [n1, n2, n3, n4, n5, n6].map((n) => [nodeRole(s, n), nodeRoleWord(s, n), nodeDict(s, n)['role']]);
  t.deepEqual(got, [
    ['M', 'master', 'M'], ['R', 'regular', 'R'], ['C', 'master-candidate', 'C'],
    ['D', 'drained', 'D'], ['O', 'offline', 'O'], ['D', 'drained', 'D'],
  ]);
  t.true(n1.master_candidate);
});

const LIVE_NODE_FIELDS = ['dtotal', 'dfree', 'sptotal', 'spfree', 'mtotal', 'mnode', 'mfree', 'ctotal', 'cnos', 'cnodes', 'csockets'];

test('node live values: from the runtime, null when it is missing or the node is offline', (t) => {
  const { s, n1, n2 } = cluster();
  const up = nodeDict(s, n1);
  t.like(up, { mtotal: 32768, mnode: 1024, mfree: 30000, dtotal: 102400, dfree: 51200, ctotal: 8, cnos: 1, cnodes: 1, csockets: 1 });
  t.is(up['sptotal'], null);
  s.runtimes.delete(n2.uuid);
  for (const f of LIVE_NODE_FIELDS) t.is(nodeDict(s, n2)[f], null, f);
  n1.offline = true;
  s.touch();
  for (const f of LIVE_NODE_FIELDS) t.is(nodeDict(s, n1)[f], null, f);
});

test('node instance lists are nice-sorted, with counts; ndparams filled', (t) => {
  const { s, n1, n2 } = cluster();
  const d1 = nodeDict(s, n1);
  t.deepEqual(d1['pinst_list'], ['inst1.example.com', 'inst10.example.com']);
  t.is(d1['pinst_cnt'], 2);
  t.deepEqual(nodeDict(s, n2)['sinst_list'], ['inst10.example.com']);
  t.is(nodeDict(s, n2)['sinst_cnt'], 1);
  s.addInstance('inst2a.example.com', n1);
  t.deepEqual(nodeDict(s, n1)['pinst_list'], ['inst1.example.com', 'inst2a.example.com', 'inst10.example.com']);
  n1.ndparams = { ssh_port: 2222 };
  s.touch();
  t.deepEqual(nodeDict(s, n1)['ndparams'], { ...NDC_DEFAULTS, ssh_port: 2222 });
  t.is(nodeDict(s, n1)['group.uuid'], s.group.uuid);
});

test('niceSort orders digit runs numerically, before letters', (t) => {
  t.deepEqual(niceSort(['a10', 'a2', 'a1', 'b', 'a', '10', '9x', 'a02b']), ['9x', '10', 'a', 'a1', 'a2', 'a02b', 'a10', 'b']);
});

test('/2/info: every 3.0 key in order, plus the RAPI aliases and rapid_version', (t) => {
  const { s } = cluster();
  const info = clusterInfo(s, '0.1.0');
  const keys = Object.keys(info);
  t.deepEqual([...INFO_FIELDS], referenceInfoKeys());
  t.deepEqual(keys, [...INFO_FIELDS, 'vg_name', 'drbd_helper', 'rapid_version']);
  t.like(info, {
    software_version: SOFTWARE_VERSION, protocol_version: 3000000, config_version: 3000000,
    os_api_version: 20, export_version: 0, name: 'cluster.example.com', master: 'node1.example.com',
    default_hypervisor: 'kvm', primary_ip_version: 4, vg_name: null, drbd_helper: '/bin/true', rapid_version: '0.1.0',
  });
  t.regex(String(info['software_version']), /^\d+\.\d+\.\d+$/);
  t.is((info['architecture'] as string[]).length, 2);
  t.regex((info['architecture'] as string[])[0]!, /^(32|64)bits$/);
  t.deepEqual(Object.keys(info['hvparams'] as object), ['kvm', 'fake']);
  t.deepEqual((info['beparams'] as any).default, BEC_DEFAULTS);
  t.deepEqual(info['ndparams'], NDC_DEFAULTS);
  t.deepEqual(Object.keys(info['diskparams'] as object), [...DISK_TEMPLATES]);
  // The recorded answer only shows the alias rule: each alias equals its key.
  const recorded = vectorBody('info with aliases') as Record<string, unknown>;
  t.is(recorded['vg_name'], recorded['volume_group_name']);
  t.is(info['vg_name'], info['volume_group_name']);
  t.is(info['drbd_helper'], info['drbd_usermode_helper']);
});

test('derived data follows configuration changes', (t) => {
  const { s, i1 } = cluster();
  t.is((instanceDict(s, i1)['beparams'] as any).vcpus, 1);
  s.cluster = { ...s.cluster, beparams: { default: { ...s.cluster.beparams['default'], vcpus: 2 } } };
  t.is((instanceDict(s, i1)['beparams'] as any).vcpus, 2);
  s.cluster.hvparams['kvm'] = { ...s.cluster.hvparams['kvm'], kernel_path: '/vmlinuz' };
  s.touch();
  t.is((instanceDict(s, i1)['hvparams'] as any).kernel_path, '/vmlinuz');
});

/**
 * Make each node's free memory and disk agree with its instances, as a real
 * node's report would; htools warns about "missing" memory or disk otherwise.
 */
function balanceRuntimes(s: FakeSnapshot): void {
  for (const node of s.nodes.values()) {
    const rt = s.runtimes.get(node.uuid);
    if (!rt) continue;
    const used = Object.values(rt.instances).reduce((sum, i) => sum + i.memory, 0);
    const disk = [...s.instances.values()]
      .filter((i) => i.primary_node === node.uuid || i.secondary_nodes.includes(node.uuid))
      .reduce((sum, i) => sum + (instanceDict(s, i)['disk_usage'] as number), 0);
    s.setRuntime(node, { ...rt, mfree: rt.mtotal - rt.mnode - used, dfree: rt.dtotal - disk });
  }
}

test('htools reads the views (hinfo -m file://)', async (t) => {
  const { s, n1, i2 } = cluster();
  s.addInstance('inst3.example.com', n1, { hypervisor: 'fake', disk_template: 'diskless', disks: [] });
  i2.admin_state = 'up';  // ERROR_down: htools must accept every status
  s.touch();
  balanceRuntimes(s);
  const dir = tempDir('rapid-views-');
  const write = (file: string, data: unknown): void => fs.writeFileSync(path.join(dir, file), JSON.stringify(data));
  write('info.json', clusterInfo(s, '0.1.0'));
  write('groups.json', [...s.groups.values()].map((g) => groupDict(s, g)));
  write('nodes.json', [...s.nodes.values()].map((n) => nodeDict(s, n)));
  write('instances.json', [...s.instances.values()].map((i) => instanceDict(s, i)));
  const { stdout, stderr } = await run('/usr/bin/hinfo', ['-m', `file://${dir}`, '-v'], { timeout: 60_000 });
  t.is(stderr, '');
  t.regex(stdout, /Loaded 2 nodes, 4 instances, 1 node group/);
  // Group, nodes, instances, bad nodes, bad instances.
  t.regex(stdout, /^\s+default\s+2\s+4\s+0\s+0\s/m);
  const hbal = await run('/usr/bin/hbal', ['-m', `file://${dir}`], { timeout: 60_000 });
  t.regex(hbal.stdout, /Cluster score/);
});
