// Networks and node groups: the address pool logic on its own (network-ipam,
// group-params), then every /2/networks and /2/groups resource over HTTP on a
// 3-node cluster (lifecycles, Ganeti's refusals, bad input → 400 with nothing
// changed), then the official Python client's network and group methods.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { rapi, caFile } from './helpers/http.ts';
import { recordPid, tempDir, unrecordPid } from './helpers/pids.ts';
import { FakeSnapshot, NOW } from './helpers/fake-snapshot.ts';
import {
  AddressPool, AddressPoolError, ReservationError, generateFreeIp, networkWrites, nicNetworkLocks, poolStats, releaseInstanceIps,
  releaseIp, reserveIp, resolveNicNetwork, type PendingNetworks,
} from '../jobs/ops/network-ipam.ts';
import { pyRepr, updatedGroupIPolicy, mergeDiskState, mergeHvState, updatedGroupDiskParams, checkGroupIPolicy } from '../jobs/ops/group-params.ts';
import { splitInstances } from '../jobs/ops/group.ts';
import { NET_FIELDS, niceSort } from '../rapi/views.ts';
import { OpPrereqError, TypeEnforcementError } from '../jobs/errors.ts';
import type { Network } from '../src/model.ts';

// ---------------------------------------------------------------------------
// Address pools.

function net(network: string, gateway: string | null = null, over: Partial<Network> = {}): Network {
  return {
    uuid: `uuid-${network}`, ctime: NOW, mtime: NOW, serial_no: 1, tags: [], name: `net-${network}`, network, gateway,
    network6: null, gateway6: null, mac_prefix: null, reservations: '', ext_reservations: '', ...over,
  };
}

const initialized = (cidr: string, gateway: string | null = null, over: Partial<Network> = {}) =>
  AddressPool.initialize(net(cidr, gateway, over)).network();

test('a new pool reserves network, broadcast and gateway externally', (t) => {
  const n = initialized('10.0.0.0/28', '10.0.0.1');
  t.is(n.ext_reservations, 'XX.............X');
  t.is(n.reservations, '................');
  t.deepEqual(poolStats(n), {
    free_count: 13, reserved_count: 3, map: 'XX.............X', external_reservations: '10.0.0.0, 10.0.0.1, 10.0.0.15',
  });
  t.is(poolStats(initialized('192.168.7.0/30')).map, 'X..X');
});

test('pool size limits and a gateway outside the network: Ganeti\'s texts', (t) => {
  const err = (f: () => unknown) => t.throws(f, { instanceOf: AddressPoolError })!.message;
  t.is(err(() => initialized('10.0.0.0/15')), 'A big network with 131072 host(s) is currently not supported. please specify at most a /16 network');
  t.is(err(() => initialized('10.0.0.0/31')), 'A network with only 2 host(s) is too small, please specify at least a /30 network');
  t.is(err(() => initialized('10.0.0.0/24', '10.0.1.1')), '10.0.0.0/24 does not contain 10.0.1.1');
  t.is(err(() => initialized('10.0.0.0/24', '10.0.0.255')), 'IP 10.0.0.255 is already externally reserved');
  t.is(initialized('10.0.0.0/16').ext_reservations.length, 65536);
  // Python's ipaddress also reads netmasks and hostmasks.
  t.is(initialized('10.0.0.0/255.255.255.252').ext_reservations, 'X..X');
  t.is(initialized('10.0.0.0/0.0.0.3').ext_reservations, 'X..X');
  t.is(err(() => initialized('10.0.0.0/255.255.255.0', '10.0.1.1')), '10.0.0.0/24 does not contain 10.0.1.1');
});

test('reserve and release in either map', (t) => {
  const pool = new AddressPool(initialized('10.0.0.0/24', '10.0.0.1'));
  pool.reserve('10.0.0.7');
  pool.reserve('10.0.0.8', true);
  const err = (f: () => unknown) => t.throws(f, { instanceOf: AddressPoolError })!.message;
  t.is(err(() => pool.reserve('10.0.0.7')), 'IP 10.0.0.7 is already used by an instance');
  t.is(err(() => pool.reserve('10.0.0.8', true)), 'IP 10.0.0.8 is already externally reserved');
  t.is(err(() => pool.release('10.0.0.9')), 'IP 10.0.0.9 is not used by an instance');
  t.is(err(() => pool.release('10.0.0.9', true)), 'IP 10.0.0.9 is not externally reserved');
  t.is(err(() => pool.isReserved('10.0.1.0')), '10.0.0.0/24 does not contain 10.0.1.0');
  pool.release('10.0.0.8', true);
  const n = pool.network();
  t.is(poolStats(n).reserved_count, 4);
  t.is(poolStats(n).map.slice(0, 9), 'XX.....X.');
  t.is(poolStats(n).external_reservations, '10.0.0.0, 10.0.0.1, 10.0.0.255');
});

test('instance addresses: reserve, generate, release (WConfd semantics)', (t) => {
  let n = initialized('10.0.0.0/29', '10.0.0.1');
  n = reserveIp(n, '10.0.0.3');
  const err = (f: () => unknown) => t.throws(f, { instanceOf: ReservationError })!.message;
  t.is(err(() => reserveIp(n, '10.0.0.3')), 'IP address already in use');
  t.is(err(() => reserveIp(n, '10.0.0.1')), 'IP is externally reserved');
  t.is(err(() => reserveIp(n, '10.0.9.1')), "Address '10.0.9.1' not in the network '10.0.0.0/29'");
  // conflicts_check off: an externally reserved address may still go to an instance.
  t.is(poolStats(reserveIp(n, '10.0.0.1', false)).reserved_count, 4);

  const got: string[] = [];
  for (;;) {
    try {
      const g = generateFreeIp(n);
      got.push(g.ip);
      n = g.network;
    } catch (e) {
      t.true(e instanceof ReservationError);
      t.is((e as Error).message, 'Cannot generate IP. Network is full');
      break;
    }
  }
  t.deepEqual(got, ['10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  t.is(poolStats(n).free_count, 0);
  n = releaseIp(n, '10.0.0.5');
  t.is(generateFreeIp(n).ip, '10.0.0.5');
  t.is(err(() => releaseIp(n, '10.0.0.5')), 'IP 10.0.0.5 is not used by an instance');
});

/** A snapshot with one node and network `lan` connected to the default group. */
function nicSetup() {
  const s = new FakeSnapshot();
  const node = s.addNode('node1.example.com', { master: true });
  const lan = initialized('10.1.0.0/29', '10.1.0.1', { uuid: 'lan-uuid', name: 'lan', mac_prefix: 'aa:bb:cc' });
  s.networks.set(lan.uuid, lan);
  const dmz = initialized('10.2.0.0/24', null, { uuid: 'dmz-uuid', name: 'dmz' });
  s.networks.set(dmz.uuid, dmz);
  s.groups.set(s.group.uuid, { ...s.group, networks: { [lan.uuid]: { mode: 'bridged', link: 'br-lan', vlan: '' } } });
  return { s, node };
}

test('resolveNicNetwork: network NICs inherit the group\'s netparams and get addresses', (t) => {
  const { s, node } = nicSetup();
  const pending: PendingNetworks = new Map();
  const opts = (index: number) => ({ index, conflictsCheck: true, pending });
  const a = resolveNicNetwork(s, node, { network: 'lan', ip: 'pool' }, opts(0));
  t.deepEqual(a, { network: 'lan-uuid', nicparams: { mode: 'bridged', link: 'br-lan', vlan: '' }, ip: '10.1.0.2', macPrefix: 'aa:bb:cc' });
  // A second NIC of the same instance sees the first one's reservation.
  t.is(resolveNicNetwork(s, node, { network: 'LAN-UUID'.toLowerCase(), ip: 'POOL' }, opts(1)).ip, '10.1.0.3');
  t.is(resolveNicNetwork(s, node, { network: 'lan', ip: '10.1.0.6' }, opts(2)).ip, '10.1.0.6');
  t.is(resolveNicNetwork(s, node, { network: 'lan', ip: 'none' }, opts(3)).ip, null);
  t.deepEqual(resolveNicNetwork(s, node, { ip: '192.0.2.9' }, opts(4)), { network: null, nicparams: null, ip: '192.0.2.9', macPrefix: null });
  t.deepEqual(resolveNicNetwork(s, node, { network: 'none', ip: null }, opts(5)).network, null);
  const writes = networkWrites(pending);
  t.is(writes.length, 1);
  t.is(writes[0].kind, 'network');
  t.is(poolStats(writes[0].obj).map, 'XXXX..XX');
  t.is(s.networks.get('lan-uuid')!.reservations, '........', 'the snapshot itself is untouched');
});

test('resolveNicNetwork: Ganeti\'s refusals', (t) => {
  const { s, node } = nicSetup();
  const pending: PendingNetworks = new Map();
  const refuse = (nic: Record<string, unknown>, conflictsCheck = true) => {
    const e = t.throws(() => resolveNicNetwork(s, node, nic, { index: 1, conflictsCheck, pending }), { instanceOf: OpPrereqError })!;
    return [e.message, (e as OpPrereqError).ecode];
  };
  t.deepEqual(refuse({ network: 'nope' }), ["Network 'nope' not found", 'unknown_entity']);
  t.deepEqual(refuse({ network: 'lan', mode: 'routed' }), ['If network is given, no mode or link is allowed to be passed', 'wrong_input']);
  t.deepEqual(refuse({ network: 'lan', link: 'br0' }), ['If network is given, no mode or link is allowed to be passed', 'wrong_input']);
  t.deepEqual(refuse({ ip: 'pool' }), ['if ip=pool, parameter network must be passed too', 'wrong_input']);
  t.deepEqual(refuse({ ip: '10.1.0.300' }), ["Invalid IP address '10.1.0.300'", 'wrong_input']);
  t.deepEqual(refuse({ network: 'dmz', ip: 'pool' }),
    ["No netparams found for network dmz. Probably not connected to node's node1.example.com nodegroup", 'wrong_input']);
  t.deepEqual(refuse({ network: 'lan', ip: '10.1.0.1' }),
    ['IP address 10.1.0.1 already in use or does not belong to network lan', 'resource_not_unique']);
  t.deepEqual(refuse({ network: 'lan', ip: '10.9.9.9' }),
    ['IP address 10.9.9.9 already in use or does not belong to network lan', 'resource_not_unique']);
  t.deepEqual(refuse({ ip: '10.1.0.4' }),
    ['The requested IP address (10.1.0.4) belongs to network lan, but the target NIC does not.', 'wrong_state']);
  t.is(resolveNicNetwork(s, node, { ip: '10.1.0.4' }, { index: 0, conflictsCheck: false, pending }).ip, '10.1.0.4');
  t.is(resolveNicNetwork(s, node, { network: 'lan', ip: '10.1.0.1' }, { index: 0, conflictsCheck: false, pending }).ip, '10.1.0.1');
  for (let i = 0; i < 5; i++) resolveNicNetwork(s, node, { network: 'lan', ip: 'pool' }, { index: i, conflictsCheck: true, pending });
  t.deepEqual(refuse({ network: 'lan', ip: 'pool' }), ['Unable to get a free IP for NIC 1 from the address pool', 'wrong_state']);
});

test('releaseInstanceIps gives network addresses back and skips the rest', (t) => {
  const { s, node } = nicSetup();
  const pending: PendingNetworks = new Map();
  const a = resolveNicNetwork(s, node, { network: 'lan', ip: 'pool' }, { index: 0, conflictsCheck: true, pending });
  s.networks.set('lan-uuid', pending.get('lan-uuid')!);
  const inst = s.addInstance('web', node);
  const nics = [
    { ...inst.nics[0], network: 'lan-uuid', ip: a.ip },
    { ...inst.nics[0], network: 'lan-uuid', ip: '10.1.0.5' }, // never marked: nothing to release
    { ...inst.nics[0], network: 'gone-uuid', ip: '10.3.0.5' },
    { ...inst.nics[0], network: null, ip: '192.0.2.1' },
  ];
  const released = releaseInstanceIps(s, { ...inst, nics });
  t.deepEqual([...released.keys()], ['lan-uuid']);
  t.is(poolStats(released.get('lan-uuid')!).map, 'XX.....X');
});

test('nicNetworkLocks: one exclusive lock per network, by name', (t) => {
  const { s } = nicSetup();
  t.deepEqual(nicNetworkLocks(s, [{ network: 'lan-uuid' }, { network: 'lan' }, { network: 'None' }, {}, null, { network: 'dmz' }]), [
    { level: 'network', name: 'dmz', shared: false },
    { level: 'network', name: 'lan', shared: false },
  ]);
});

// ---------------------------------------------------------------------------
// Group parameters.

test('group ipolicy updates: Ganeti\'s merge and texts', (t) => {
  const { s } = nicSetup();
  const minmax = [{ min: { 'cpu-count': 1, 'disk-count': 1, 'disk-size': 512, 'memory-size': 128, 'nic-count': 1, 'spindle-use': 1 },
    max: { 'cpu-count': '4', 'disk-count': 2, 'disk-size': 2048, 'memory-size': 4096, 'nic-count': 2, 'spindle-use': 4 } }];
  const p = updatedGroupIPolicy({ 'spindle-ratio': 2 }, { 'vcpu-ratio': '3.5', 'spindle-ratio': 'default', minmax });
  t.deepEqual(p, { 'vcpu-ratio': 3.5, minmax: [{ ...minmax[0], max: { ...minmax[0].max, 'cpu-count': 4 } }] });
  const refuse = (f: () => unknown) => t.throws(f, { instanceOf: OpPrereqError })!.message;
  t.is(refuse(() => updatedGroupIPolicy({}, { colour: 1 })), 'Invalid key in new ipolicy: colour');
  t.is(refuse(() => updatedGroupIPolicy({}, { std: { 'cpu-count': 1 } })), 'std cannot appear in group instance specs');
  t.is(refuse(() => updatedGroupIPolicy({}, { 'vcpu-ratio': 'lots' })),
    "Invalid value for attribute 'vcpu-ratio': 'lots', error: could not convert string to float: 'lots'");
  t.is(refuse(() => updatedGroupIPolicy({}, { minmax: [{ min: minmax[0].min }] })), 'Invalid instance policy: Missing instance specification: max');
  t.is(refuse(() => updatedGroupIPolicy({}, { minmax: [{ min: minmax[0].max, max: minmax[0].min }] })),
    'Invalid instance policy: Invalid specification of min/max values for cpu-count: 4/1');
  t.is(refuse(() => updatedGroupIPolicy({}, { 'disk-templates': ['floppy'] })), 'Invalid instance policy: Invalid disk template(s) floppy');
  t.is(refuse(() => checkGroupIPolicy(s.cluster, { 'disk-templates': ['plain', 'file'] })),
    'The following disk templates are allowed by the ipolicy, but not enabled on the cluster: plain');
  t.notThrows(() => checkGroupIPolicy(s.cluster, { 'disk-templates': ['file'] }));
});

test('group disk parameters, hv and disk state: merged and checked as Ganeti', (t) => {
  t.deepEqual(updatedGroupDiskParams({ drbd: { 'resync-rate': 10 } }, { drbd: { 'c-max-rate': '50' }, plain: { stripes: 2 } }),
    { drbd: { 'resync-rate': 10, 'c-max-rate': 50 }, plain: { stripes: 2 } });
  t.deepEqual(updatedGroupDiskParams({ drbd: { 'resync-rate': 10 } }, { drbd: { 'resync-rate': 'default' } }), { drbd: {} });
  t.is(t.throws(() => updatedGroupDiskParams({}, { file: { stripes: 2 } }), { instanceOf: OpPrereqError })!.message,
    "While verify diskparams options: ('Provided option keys not supported: file/stripes', 'wrong_input')");
  t.is(t.throws(() => updatedGroupDiskParams({}, { plain: { colour: 2 } }), { instanceOf: TypeEnforcementError })!.message,
    "Unknown parameter 'colour'");
  t.deepEqual(mergeHvState({ kvm: { mem_total: '1024' } }, { kvm: { cpu_total: 4 }, fake: { cpu_total: 1 } }),
    { kvm: { cpu_total: 4, mem_total: 1024 }, fake: { cpu_total: 1 } });
  t.is(mergeHvState({}, undefined), null);
  t.is(t.throws(() => mergeHvState({ vmware: {} }, undefined), { instanceOf: OpPrereqError })!.message,
    'Invalid hypervisor(s) in hypervisor state: vmware');
  t.deepEqual(mergeDiskState({ plain: { xenvg: { disk_total: 100 } } }, { plain: { xenvg: { disk_reserved: 1 } } }),
    { plain: { xenvg: { disk_reserved: 1, disk_total: 100 } } });
  t.is(t.throws(() => mergeDiskState({ lvm: {} }, undefined), { instanceOf: OpPrereqError })!.message,
    'Invalid storage type(s) in disk state: lvm');
  t.is(pyRepr({ cpu_speed: 2, oob_program: "it's", ovs: true, ovs_link: null, spindle_count: 3 }, { cpu_speed: 'float' }),
    `{'cpu_speed': 2.0, 'oob_program': "it's", 'ovs': True, 'ovs_link': None, 'spindle_count': 3}`);
});

test('assigning nodes: instances with DRBD disks across groups are split', (t) => {
  const s = new FakeSnapshot();
  const a = s.addNode('a', { master: true });
  const b = s.addNode('b');
  const c = s.addNode('c');
  s.addInstance('mirror', a, { disk_template: 'drbd', secondary_nodes: [b.uuid] });
  s.addInstance('mirror2', b, { disk_template: 'drbd', secondary_nodes: [c.uuid] });
  s.addInstance('plainfile', a);
  t.deepEqual(splitInstances(s, 'g2', [a]), { added: ['mirror'], kept: [] });
  t.deepEqual(splitInstances(s, 'g2', [a, b]), { added: ['mirror2'], kept: [] });
  s.nodes.set(c.uuid, { ...c, group: 'g3' });
  t.deepEqual(splitInstances(s, 'g2', [a]), { added: ['mirror'], kept: ['mirror2'] });
  t.deepEqual(splitInstances(s, 'g3', [b]), { added: ['mirror'], kept: [] }, 'mirror2 is mended, not split');
});

// ---------------------------------------------------------------------------
// Over HTTP, on a 3-node cluster.

let c: TestCluster;
test.before(async () => { c = await startCluster({}, ['node2.example.com', 'node3.example.com']); });
test.after.always(async () => { await c?.stop(); });

const get = async (p: string) => {
  const r = await rapi(c.rapid, 'GET', p);
  return r.status === 200 ? r.json : { status: r.status, text: r.text };
};
const messages = (job: any): string[] => job.oplog[0].map((e: unknown[]) => e[3]);
const ok = (t: ExecutionContext, job: any) => t.is(job.status, 'success', JSON.stringify(job.opresult));
const failed = (t: ExecutionContext, job: any, expect: unknown[]) => {
  t.is(job.status, 'error');
  t.deepEqual(job.opresult[0], expect);
};

test.serial('network lifecycle: add, read, modify, connect, disconnect, remove', async (t) => {
  t.deepEqual(await get('/2/networks'), []);
  // A dry run checks and changes nothing.
  ok(t, await c.job('POST', '/2/networks?dry-run=1', { body: { name: 'lan', network: '10.5.0.0/28', gateway: '10.5.0.1' } }));
  t.deepEqual(await get('/2/networks'), []);

  const add = await c.job('POST', '/2/networks', { body: { name: 'lan', network: '10.5.0.0/28', gateway: '10.5.0.1', mac_prefix: 'AA:BB:CC', add_reserved_ips: ['10.5.0.9'], tags: ['t1'] } });
  ok(t, add);
  t.deepEqual(add.opresult, [null]);
  t.deepEqual(await get('/2/networks'), [{ name: 'lan', uri: '/2/networks/lan' }]);
  const lan = await get('/2/networks/lan');
  t.deepEqual(Object.keys(lan), [...NET_FIELDS]);
  t.like(lan, {
    name: 'lan', network: '10.5.0.0/28', gateway: '10.5.0.1', network6: null, gateway6: null, mac_prefix: 'aa:bb:cc',
    free_count: 12, reserved_count: 4, map: 'XX.......X.....X', group_list: [], inst_list: [],
    external_reservations: '10.5.0.0, 10.5.0.1, 10.5.0.9, 10.5.0.15', serial_no: 1, tags: ['t1'],
  });
  t.deepEqual((await get('/2/networks?bulk=1')), [lan]);
  t.deepEqual(await get('/2/networks/lan/tags'), ['t1']);

  const dup = await c.job('POST', '/2/networks', { body: { name: 'lan', network: '10.6.0.0/24' } });
  failed(t, dup, ['OpPrereqError', [`Desired network name 'lan' already exists as a network (UUID: ${lan.uuid})`, 'already_exists']]);

  // modify: reserve and release, with Ganeti's warnings for what cannot be done.
  const mod = await c.job('PUT', '/2/networks/lan/modify', { body: { add_reserved_ips: ['10.5.0.3', '10.5.0.9', '10.9.0.1'], remove_reserved_ips: ['10.5.0.9', '10.5.0.1', '10.5.0.4'] } });
  ok(t, mod);
  t.deepEqual(messages(mod), [
    ' - WARNING: Cannot reserve IP address 10.5.0.9: IP 10.5.0.9 is already externally reserved',
    ' - WARNING: Cannot reserve IP address 10.9.0.1: 10.5.0.0/28 does not contain 10.9.0.1',
    " - WARNING: Cannot unreserve Gateway's IP",
    ' - WARNING: Cannot release IP address 10.5.0.4: IP 10.5.0.4 is not externally reserved',
  ]);
  t.like(await get('/2/networks/lan'), { map: 'XX.X...........X', external_reservations: '10.5.0.0, 10.5.0.1, 10.5.0.3, 10.5.0.15', serial_no: 2 });
  const both = await c.job('PUT', '/2/networks/lan/modify', { body: { gateway: '10.5.0.2', add_reserved_ips: ['10.5.0.4'] } });
  failed(t, both, ['OpPrereqError', ['Cannot modify gateway and reserved ips at once', 'wrong_input']]);
  ok(t, await c.job('PUT', '/2/networks/lan/modify', { body: { gateway: '10.5.0.14', mac_prefix: 'none', network6: '2001:db8::/64' } }));
  t.like(await get('/2/networks/lan'), {
    gateway: '10.5.0.14', mac_prefix: null, network6: '2001:db8::/64', map: 'X..X..........XX',
    external_reservations: '10.5.0.0, 10.5.0.3, 10.5.0.14, 10.5.0.15',
  });
  const same = await c.job('PUT', '/2/networks/lan/modify', { body: { gateway: '10.5.0.14' } });
  ok(t, same);
  t.deepEqual(messages(same), [' - WARNING: Gateway is already 10.5.0.14']);
  failed(t, await c.job('PUT', '/2/networks/lan/modify', { body: { mac_prefix: 'aa:bb' } }),
    ['OpPrereqError', ["Invalid MAC address prefix 'aa:bb'", 'wrong_input']]);

  // connect / disconnect
  ok(t, await c.job('PUT', '/2/networks/lan/connect?dry-run=1', { body: { group_name: 'default', network_mode: 'bridged', network_link: 'br0' } }));
  t.deepEqual((await get('/2/networks/lan')).group_list, []);
  ok(t, await c.job('PUT', '/2/networks/lan/connect', { body: { group_name: 'default', network_mode: 'bridged', network_link: 'br0' } }));
  t.deepEqual((await get('/2/networks/lan')).group_list, [['default', 'bridged', 'br0', '']]);
  const again = await c.job('PUT', '/2/networks/lan/connect', { body: { group_name: 'default', network_mode: 'routed', network_link: 'x', network_vlan: '7' } });
  ok(t, again);
  t.deepEqual(messages(again), [" - WARNING: Network 'lan' is already mapped to group 'default'"]);
  t.deepEqual((await get('/2/networks/lan')).group_list, [['default', 'bridged', 'br0', '']], 'unchanged');
  failed(t, await c.job('PUT', '/2/networks/lan/connect', { body: { group_name: 'nogroup', network_mode: 'bridged', network_link: 'br0' } }),
    ['OpPrereqError', ["Node group 'nogroup' not found", 'unknown_entity']]);
  failed(t, await c.job('PUT', '/2/networks/nonet/connect', { body: { group_name: 'default', network_mode: 'bridged', network_link: 'br0' } }),
    ['OpPrereqError', ["Network 'nonet' not found", 'unknown_entity']]);

  const busy = await c.job('DELETE', '/2/networks/lan');
  failed(t, busy, ['OpPrereqError', ['Network still connected', 'wrong_state']]);
  t.deepEqual(messages(busy), [" - WARNING: Network 'lan' is connected to the following node groups: default"]);

  ok(t, await c.job('PUT', '/2/networks/lan/disconnect', { body: { group_name: 'default' } }));
  t.deepEqual((await get('/2/networks/lan')).group_list, []);
  const notMapped = await c.job('PUT', '/2/networks/lan/disconnect', { body: { group_name: 'default' } });
  ok(t, notMapped);
  t.deepEqual(messages(notMapped), [" - WARNING: Network 'lan' is not mapped to group 'default'"]);

  ok(t, await c.job('PUT', '/2/networks/lan/tags?tag=t2&tag=t3'));
  t.deepEqual(await get('/2/networks/lan/tags'), ['t1', 't2', 't3']);
  ok(t, await c.job('DELETE', '/2/networks/lan/tags?tag=t1'));
  t.deepEqual(await get('/2/networks/lan/tags'), ['t2', 't3']);

  ok(t, await c.job('DELETE', '/2/networks/lan?dry-run=1'));
  t.is((await get('/2/networks/lan')).name, 'lan');
  ok(t, await c.job('DELETE', '/2/networks/lan'));
  t.is((await rapi(c.rapid, 'GET', '/2/networks/lan')).status, 404);
  t.is((await rapi(c.rapid, 'GET', '/2/networks/lan/tags')).status, 404);
  failed(t, await c.job('DELETE', '/2/networks/lan'), ['OpPrereqError', ["Network 'lan' not found", 'unknown_entity']]);
});

test.serial('network add: node addresses reserved, pool limits as job errors', async (t) => {
  const nodes: { name: string; pip: string }[] = await get('/2/nodes?bulk=1');
  const add = await c.job('POST', '/2/networks', { body: { network_name: 'loop', network: '127.0.0.0/28' } });
  ok(t, add);
  const inRange = nodes.filter((n) => /^127\.0\.0\.([0-9]|1[0-5])$/.test(n.pip));
  t.true(inRange.some((n) => n.name === 'node2.example.com'));
  for (const n of inRange) {
    // Each node's primary and secondary address are the same: Ganeti warns on the second.
    t.true(messages(add).includes(` - INFO: Reserved IP address of node '${n.name}' (${n.pip})`));
    t.true(messages(add).includes(` - WARNING: Cannot reserve IP address '${n.pip}' of node '${n.name}': IP ${n.pip} is already externally reserved`));
  }
  const ext = ['127.0.0.0', ...inRange.map((n) => n.pip), '127.0.0.15']
    .sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3]));
  t.is((await get('/2/networks/loop')).external_reservations, ext.join(', '));
  ok(t, await c.job('POST', '/2/networks', { body: { network_name: 'loop2', network: '127.0.0.0/28', conflicts_check: false } }));
  t.is((await get('/2/networks/loop2')).external_reservations, '127.0.0.0, 127.0.0.15');

  failed(t, await c.job('POST', '/2/networks', { body: { name: 'huge', network: '10.0.0.0/8' } }),
    ['OpExecError', ["Cannot create IP address pool for network 'huge': A big network with 16777216 host(s) is currently not supported. please specify at most a /16 network"]]);
  failed(t, await c.job('POST', '/2/networks', { body: { name: 'gw', network: '10.0.0.0/24', gateway: '10.0.1.1' } }),
    ['OpExecError', ["Cannot create IP address pool for network 'gw': 10.0.0.0/24 does not contain 10.0.1.1"]]);
  failed(t, await c.job('POST', '/2/networks', { body: { name: 'res', network: '10.0.0.0/24', add_reserved_ips: ['10.0.0.0'] } }),
    ['OpExecError', ["Cannot reserve IP address '10.0.0.0': IP 10.0.0.0 is already externally reserved"]]);
  failed(t, await c.job('POST', '/2/networks', { body: { name: 'badtag', network: '10.0.0.0/24', tags: ['a b'] } }),
    ['TagError', ['Tag contains invalid characters']]);
  t.deepEqual((await get('/2/networks')).map((n: { name: string }) => n.name), ['loop', 'loop2']);
  for (const n of ['loop', 'loop2']) ok(t, await c.job('DELETE', `/2/networks/${n}`));
});

test.serial('connect refuses addresses of the group\'s instances unless conflicts_check is off', async (t) => {
  ok(t, await c.job('POST', '/2/instances', { body: createBody('ipuser', { nics: [{ ip: '10.7.0.20' }, { ip: '10.7.0.21' }] }) }));
  ok(t, await c.job('POST', '/2/networks', { body: { name: 'srv', network: '10.7.0.0/24' } }));
  const body = { group_name: 'default', network_mode: 'routed', network_link: 'rt1' };
  const refused = await c.job('PUT', '/2/networks/srv/connect', { body });
  failed(t, refused, ['OpPrereqError', ['Conflicting IP addresses found;  remove/modify the corresponding network interfaces', 'wrong_state']]);
  t.deepEqual(messages(refused), [" - WARNING: IP addresses from network 'srv', which is about to connect to node group 'default', are in use: ipuser: nic0/10.7.0.20, nic1/10.7.0.21"]);
  ok(t, await c.job('PUT', '/2/networks/srv/connect', { body: { ...body, conflicts_check: false, network_vlan: '100' } }));
  t.deepEqual((await get('/2/networks/srv')).group_list, [['default', 'routed', 'rt1', '100']]);
  t.deepEqual((await get('/2/networks/srv')).inst_list, [], 'a NIC joins a network only through its network parameter');
  ok(t, await c.job('PUT', '/2/networks/srv/disconnect', { body: { group_name: 'default' } }));
  ok(t, await c.job('DELETE', '/2/instances/ipuser'));
  ok(t, await c.job('DELETE', '/2/networks/srv'));
});

test.serial('group lifecycle: add, assign a node, rename, modify, delete', async (t) => {
  ok(t, await c.job('POST', '/2/groups?dry-run=1', { body: { name: 'rack2' } }));
  t.deepEqual((await get('/2/groups')).map((g: { name: string }) => g.name), ['default']);
  const add = await c.job('POST', '/2/groups', { body: { name: 'rack2', alloc_policy: 'last_resort', ndparams: { spindle_count: '2' } } });
  ok(t, add);
  t.deepEqual(await get('/2/groups'), [{ name: 'default', uri: '/2/groups/default' }, { name: 'rack2', uri: '/2/groups/rack2' }]);
  const g = await get('/2/groups/rack2');
  t.like(g, { name: 'rack2', alloc_policy: 'last_resort', node_cnt: 0, node_list: [], custom_ndparams: { spindle_count: 2 }, custom_ipolicy: {}, serial_no: 1 });
  t.is(g.ndparams.spindle_count, 2);
  failed(t, await c.job('POST', '/2/groups', { body: { name: 'rack2' } }),
    ['OpPrereqError', [`Desired group name 'rack2' already exists as a node group (UUID: ${g.uuid})`, 'already_exists']]);
  failed(t, await c.job('POST', '/2/groups', { body: { name: 'bad', ndparams: { spindle_count: 'many' } } }),
    ['TypeEnforcementError', ["'spindle_count' (value many) is not a valid integer"]]);
  failed(t, await c.job('POST', '/2/groups', { body: { name: 'bad', ipolicy: { 'disk-templates': ['plain'] } } }),
    ['OpPrereqError', ['The following disk templates are allowed by the ipolicy, but not enabled on the cluster: plain', 'wrong_input']]);

  // assign-nodes (dry run first)
  ok(t, await c.job('PUT', '/2/groups/rack2/assign-nodes?dry-run=1', { body: { nodes: ['node3.example.com'] } }));
  t.is((await get('/2/groups/rack2')).node_cnt, 0);
  ok(t, await c.job('PUT', '/2/groups/rack2/assign-nodes', { body: { nodes: ['node3.example.com'] } }));
  t.deepEqual((await get('/2/groups/rack2')).node_list, ['node3.example.com']);
  t.deepEqual((await get('/2/groups/default')).node_list, ['node1.example.com', 'node2.example.com']);
  t.is((await get('/2/nodes/node3.example.com'))['group.uuid'], g.uuid);
  t.is((await get('/2/nodes/node3.example.com')).ndparams.spindle_count, 2, 'the node takes the group\'s ndparams');
  failed(t, await c.job('PUT', '/2/groups/rack2/assign-nodes', { body: { nodes: ['node9'] } }),
    ['OpPrereqError', ["Node 'node9' not known", 'unknown_entity']]);

  // rename
  failed(t, await c.job('PUT', '/2/groups/rack2/rename', { body: { new_name: 'default' } }),
    ['OpPrereqError', [`Desired new name 'default' clashes with existing node group (UUID: ${(await get('/2/groups/default')).uuid})`, 'already_exists']]);
  const ren = await c.job('PUT', '/2/groups/rack2/rename', { body: { new_name: 'rack3' } });
  ok(t, ren);
  t.deepEqual(ren.opresult, ['rack3']);
  t.is((await rapi(c.rapid, 'GET', '/2/groups/rack2')).status, 404);
  t.is((await get('/2/groups/rack3')).uuid, g.uuid);

  // modify: Ganeti reports ndparams and diskparams changes as [name, str(value)].
  const mod = await c.job('PUT', '/2/groups/rack3/modify', {
    body: { alloc_policy: 'preferred', custom_ndparams: { cpu_speed: 2, spindle_count: 'default' }, diskparams: { drbd: { 'resync-rate': '1000' } },
      ipolicy: { 'vcpu-ratio': 2.5, 'disk-templates': ['file', 'diskless'] }, hv_state: { fake: { mem_total: 4096 } } },
  });
  ok(t, mod);
  t.deepEqual(mod.opresult, [[['ndparams', "{'cpu_speed': 2.0}"], ['diskparams', "{'drbd': {'resync-rate': 1000}}"]]]);
  const g3 = await get('/2/groups/rack3');
  t.like(g3, { alloc_policy: 'preferred', custom_ndparams: { cpu_speed: 2 }, custom_diskparams: { drbd: { 'resync-rate': 1000 } }, custom_ipolicy: { 'vcpu-ratio': 2.5, 'disk-templates': ['file', 'diskless'] } });
  t.is(g3.diskparams.drbd['resync-rate'], 1000);
  t.is(g3.diskparams.drbd.protocol, 'C', 'the cluster\'s values fill the rest');
  t.is(g3.ipolicy['vcpu-ratio'], 2.5);
  t.is(g3.ndparams.spindle_count, 1, 'reset to the cluster default');
  failed(t, await c.job('PUT', '/2/groups/rack3/modify', { body: {} }), ['OpPrereqError', ['Please pass at least one modification', 'wrong_input']]);
  failed(t, await c.job('PUT', '/2/groups/rack3/modify', { body: { diskparams: { rbd: { access: 'magic' } } } }),
    ['OpPrereqError', ["Invalid value of 'rbd:access': 'magic' (expected one of kernelspace, userspace)"]]);
  failed(t, await c.job('PUT', '/2/groups/rack3/modify', { body: { ipolicy: { std: { 'cpu-count': 1 } } } }),
    ['OpPrereqError', ['std cannot appear in group instance specs', 'wrong_input']]);
  t.is((await get('/2/groups/rack3')).serial_no, g3.serial_no, 'refused changes leave the group alone');

  // delete: refused while it has nodes, then allowed
  const node3 = await get('/2/nodes/node3.example.com');
  failed(t, await c.job('DELETE', '/2/groups/rack3'),
    ['OpPrereqError', [`Group 'rack3' not empty, has the following nodes: ${node3.uuid}`, 'wrong_state']]);
  ok(t, await c.job('PUT', '/2/groups/default/assign-nodes', { body: { nodes: ['node3.example.com'] } }));
  ok(t, await c.job('PUT', '/2/groups/rack3/tags?tag=gone'));
  ok(t, await c.job('DELETE', '/2/groups/rack3?dry-run=1'));
  t.is((await get('/2/groups/rack3')).name, 'rack3');
  ok(t, await c.job('DELETE', '/2/groups/rack3'));
  t.deepEqual((await get('/2/groups')).map((x: { name: string }) => x.name), ['default']);
  // Ganeti lists node uuids, nice-sorted.
  const allNodes = async () => niceSort((await get('/2/nodes?bulk=1')).map((n: { uuid: string }) => n.uuid)).join(', ');
  failed(t, await c.job('DELETE', '/2/groups/default'),
    ['OpPrereqError', [`Group 'default' not empty, has the following nodes: ${await allNodes()}`, 'wrong_state']]);

  // An empty node list means every node (cmdlib GetWantedNodes).
  ok(t, await c.job('POST', '/2/groups', { body: { name: 'solo' } }));
  ok(t, await c.job('PUT', '/2/groups/solo/assign-nodes', { body: { nodes: [] } }));
  t.is((await get('/2/groups/solo')).node_cnt, 3);
  t.is((await get('/2/groups/default')).node_cnt, 0);
  ok(t, await c.job('PUT', '/2/groups/default/assign-nodes', { body: { nodes: [] } }));
  ok(t, await c.job('DELETE', '/2/groups/solo'));
  t.deepEqual((await get('/2/groups')).map((x: { name: string }) => x.name), ['default']);
});

/** Ganeti's HTML escaping of error messages, for exact comparisons. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
const fails = (op: string, param: string) => `Invalid body parameters: ("Parameter '${op}.${param}' fails validation", 'wrong_input')`;

const BAD: [method: string, path: string, body: unknown, message: string][] = [
  ['POST', '/2/networks', [1], "Body contents: Type is 'list', but 'dict' is expected"],
  ['POST', '/2/networks', { name: 'x' }, fails('OP_NETWORK_ADD', 'network')],
  ['POST', '/2/networks', { name: 'x', network: '10.0.0.1/24' }, fails('OP_NETWORK_ADD', 'network')],
  ['POST', '/2/networks', { name: 'x', network: '10.0.0.0/24', gateway: 'gw' }, fails('OP_NETWORK_ADD', 'gateway')],
  ['POST', '/2/networks', { name: 'x', network: '10.0.0.0/24', tags: null }, fails('OP_NETWORK_ADD', 'tags')],
  ['POST', '/2/networks', { name: 'x', network_name: 'y', network: '10.0.0.0/24' }, "Parameter 'name' was renamed to 'network_name', but both are specified"],
  ['POST', '/2/networks', { name: 'x', network: '10.0.0.0/24', dry_run: true }, "Can't overwrite static parameters {'dry_run'}"],
  ['POST', '/2/networks', { name: 'x', network: '10.0.0.0/24', colour: 'red' }, "Invalid body parameters: Object OpNetworkAdd doesn't support the parameter 'colour'"],
  ['POST', '/2/networks?dry-run=yes', { name: 'x', network: '10.0.0.0/24' }, "Invalid value for the 'dry-run' parameter"],
  ['DELETE', '/2/networks/badnet', { network_name: 'other' }, "Can't overwrite static parameters {'network_name'}"],
  ['DELETE', '/2/networks/badnet', { force: 'yes' }, fails('OP_NETWORK_REMOVE', 'force')],
  ['PUT', '/2/networks/badnet/modify', { gateway: 5 }, fails('OP_NETWORK_SET_PARAMS', 'gateway')],
  ['PUT', '/2/networks/badnet/modify', { add_reserved_ips: ['10.0.0.300'] }, fails('OP_NETWORK_SET_PARAMS', 'add_reserved_ips')],
  ['PUT', '/2/networks/badnet/modify', { network: '10.1.0.0/24' }, "Invalid body parameters: Object OpNetworkSetParams doesn't support the parameter 'network'"],
  ['PUT', '/2/networks/badnet/connect', { group_name: 'default', network_mode: 'bridged' }, fails('OP_NETWORK_CONNECT', 'network_link')],
  ['PUT', '/2/networks/badnet/connect', { group_name: 'default', network_mode: 'wired', network_link: 'br0' }, fails('OP_NETWORK_CONNECT', 'network_mode')],
  ['PUT', '/2/networks/badnet/connect?dry-run=x', { group_name: 'default', network_mode: 'bridged', network_link: 'br0' }, "Invalid value for the 'dry-run' parameter"],
  ['PUT', '/2/networks/badnet/disconnect', undefined, fails('OP_NETWORK_DISCONNECT', 'group_name')],
  ['PUT', '/2/networks/badnet/disconnect', { group_name: 'default', network_name: 'x' }, "Can't overwrite static parameters {'network_name'}"],
  ['PUT', '/2/networks/badnet/tags?tag=a&dry-run=x', undefined, "Invalid value for the 'dry-run' parameter"],
  ['DELETE', '/2/networks/badnet/tags?tag=t&dry-run=x', undefined, "Invalid value for the 'dry-run' parameter"],
  ['POST', '/2/groups', {}, fails('OP_GROUP_ADD', 'group_name')],
  ['POST', '/2/groups', { name: 'x', alloc_policy: 'sometimes' }, fails('OP_GROUP_ADD', 'alloc_policy')],
  ['POST', '/2/groups', { name: 'x', diskparams: { floppy: {} } }, fails('OP_GROUP_ADD', 'diskparams')],
  ['POST', '/2/groups', { name: 'x', group_name: 'y' }, "Parameter 'name' was renamed to 'group_name', but both are specified"],
  ['DELETE', '/2/groups/badgrp?dry-run=z', undefined, "Invalid value for the 'dry-run' parameter"],
  ['PUT', '/2/groups/badgrp/modify', { custom_ndparams: {}, ndparams: {} }, "Parameter 'custom_ndparams' was renamed to 'ndparams', but both are specified"],
  ['PUT', '/2/groups/badgrp/modify', { group_name: 'x' }, "Can't overwrite static parameters {'group_name'}"],
  ['PUT', '/2/groups/badgrp/modify', { ipolicy: [] }, fails('OP_GROUP_SET_PARAMS', 'ipolicy')],
  ['PUT', '/2/groups/badgrp/rename', {}, fails('OP_GROUP_RENAME', 'new_name')],
  ['PUT', '/2/groups/badgrp/rename', { new_name: '' }, fails('OP_GROUP_RENAME', 'new_name')],
  ['PUT', '/2/groups/badgrp/assign-nodes', { nodes: 'node2.example.com' }, fails('OP_GROUP_ASSIGN_NODES', 'nodes')],
  ['PUT', '/2/groups/badgrp/assign-nodes?force=maybe', { nodes: [] }, "Invalid value for the 'force' parameter"],
  ['PUT', '/2/groups/badgrp/assign-nodes', { nodes: [], force: true }, "Can't overwrite static parameters {'force'}"],
  ['PUT', '/2/groups/badgrp/tags?tag=a&dry-run=x', undefined, "Invalid value for the 'dry-run' parameter"],
];

test.serial('bad input on every write: 400 with Ganeti\'s text, no job, nothing changed', async (t) => {
  ok(t, await c.job('POST', '/2/networks', { body: { name: 'badnet', network: '10.44.0.0/24', tags: ['t'] } }));
  ok(t, await c.job('POST', '/2/groups', { body: { name: 'badgrp' } }));
  const state = async () => [await get('/2/networks?bulk=1'), await get('/2/groups?bulk=1'), await get('/2/nodes?bulk=1')]
    .map((list) => JSON.stringify(list, (k, v) => (['mfree', 'dfree', 'mnode', 'mtotal', 'dtotal'].includes(k) ? undefined : v)));
  const before = await state();
  const jobs = (await get('/2/jobs')).length;
  for (const [method, p, body, message] of BAD) {
    const r = await c.w(method, p, body === undefined ? {} : { body });
    t.is(r.status, 400, `${method} ${p}: ${r.text}`);
    t.is(r.json?.message, esc(message), `${method} ${p}`);
  }
  t.is((await get('/2/jobs')).length, jobs, 'no job was created');
  t.deepEqual(await state(), before);
  ok(t, await c.job('DELETE', '/2/networks/badnet'));
  ok(t, await c.job('DELETE', '/2/groups/badgrp'));
});

test.serial('reads: 404 for missing objects, ?lock validated, anonymous allowed', async (t) => {
  for (const p of ['/2/networks/none', '/2/networks/none/tags', '/2/groups/none', '/2/groups/none/tags']) {
    t.is((await rapi(c.rapid, 'GET', p)).status, 404, p);
  }
  t.is((await rapi(c.rapid, 'GET', '/2/groups/default?lock=x')).status, 400);
  t.is((await rapi(c.rapid, 'POST', '/2/networks', { body: { name: 'x', network: '10.0.0.0/24' } })).status, 401);
  t.is((await rapi(c.rapid, 'PUT', '/2/groups/default/modify', { body: { alloc_policy: 'preferred' } })).status, 401);
});

// ---------------------------------------------------------------------------
// The official Python client (Debian's python3-ganeti-rapi).

const PY_FLOW = String.raw`
import sys
from ganeti.rapi import client
host, port, user, password, cafile = sys.argv[1:6]
cl = client.GanetiRapiClient(host, port=int(port), username=user, password=password,
                             curl_config_fn=client.GenericCurlConfig(cafile=cafile, verify_hostname=True))

def check(cond, what):
  if not cond:
    print("FAIL: " + what)
    sys.exit(1)

def wait(jid, what, result=None):
  ok = cl.WaitForJobCompletion(jid, period=1, retries=60)
  job = cl.GetJobStatus(jid)
  check(ok, "%s: job %s %r" % (what, jid, job))
  if result is not None:
    check(job["opresult"] == result, "%s: opresult %r" % (what, job["opresult"]))
  print("ok   " + what)

# As on Ganeti 3.0, CreateNetwork without tags sends tags=None, which OpNetworkAdd refuses.
try:
  cl.CreateNetwork("pynet", "10.8.0.0/24")
  check(False, "CreateNetwork without tags must be refused")
except client.GanetiApiError as err:
  check(err.code == 400, "CreateNetwork without tags: %s" % err)
wait(cl.CreateNetwork("pynet", "10.8.0.0/24", gateway="10.8.0.1", add_reserved_ips="10.8.0.5,10.8.0.6", tags="a,b"), "CreateNetwork")
check(cl.GetNetworks() == ["pynet"], "GetNetworks %r" % cl.GetNetworks())
net = cl.GetNetwork("pynet")
check(net["external_reservations"] == "10.8.0.0, 10.8.0.1, 10.8.0.5, 10.8.0.6, 10.8.0.255", "GetNetwork %r" % net)
check(net["free_count"] == 251 and sorted(net["tags"]) == ["a", "b"], "GetNetwork %r" % net)
wait(cl.ModifyNetwork("pynet", mac_prefix="AA:00:01", remove_reserved_ips=["10.8.0.6"]), "ModifyNetwork")
net = cl.GetNetwork("pynet")
check(net["mac_prefix"] == "aa:00:01" and net["free_count"] == 252, "after ModifyNetwork %r" % net)
wait(cl.ConnectNetwork("pynet", "default", "bridged", "br9"), "ConnectNetwork")
check(cl.GetNetworks(bulk=True)[0]["group_list"] == [["default", "bridged", "br9", ""]], "group_list")
wait(cl.AddNetworkTags("pynet", ["c"]), "AddNetworkTags")
check(sorted(cl.GetNetworkTags("pynet")) == ["a", "b", "c"], "GetNetworkTags")
wait(cl.DeleteNetworkTags("pynet", ["a"]), "DeleteNetworkTags")
wait(cl.DisconnectNetwork("pynet", "default"), "DisconnectNetwork")
wait(cl.DeleteNetwork("pynet", dry_run=True), "DeleteNetwork dry-run")
check(cl.GetNetworks() == ["pynet"], "dry run kept the network")
wait(cl.DeleteNetwork("pynet"), "DeleteNetwork")
check(cl.GetNetworks() == [], "no networks left")

wait(cl.CreateGroup("pygrp", alloc_policy="unallocable"), "CreateGroup")
wait(cl.ModifyGroup("pygrp", alloc_policy="preferred", custom_ndparams={"ssh_port": 2222}), "ModifyGroup",
     [[["ndparams", "{'ssh_port': 2222}"]]])
grp = cl.GetGroup("pygrp")
check(grp["alloc_policy"] == "preferred" and grp["custom_ndparams"] == {"ssh_port": 2222}, "GetGroup %r" % grp)
wait(cl.AssignGroupNodes("pygrp", ["node2.example.com"], dry_run=True), "AssignGroupNodes dry-run")
check(cl.GetGroup("pygrp")["node_cnt"] == 0, "dry run moved nothing")
wait(cl.AssignGroupNodes("pygrp", ["node2.example.com"]), "AssignGroupNodes")
check(cl.GetGroup("pygrp")["node_list"] == ["node2.example.com"], "node moved")
wait(cl.AssignGroupNodes("default", ["node2.example.com"], force=True), "AssignGroupNodes back")
wait(cl.RenameGroup("pygrp", "pygrp2"), "RenameGroup", ["pygrp2"])
wait(cl.AddGroupTags("pygrp2", ["x"]), "AddGroupTags")
check(cl.GetGroupTags("pygrp2") == ["x"], "GetGroupTags")
wait(cl.DeleteGroup("pygrp2"), "DeleteGroup")
check(cl.GetGroups() == ["default"], "GetGroups %r" % cl.GetGroups())
print("ALL OK")
`;

test.serial('official Python client: network and group methods', async (t) => {
  t.timeout(120_000);
  if (!fs.existsSync('/usr/lib/python3/dist-packages/ganeti/rapi/client.py')) {
    t.fail('python3-ganeti-rapi is not installed');
    return;
  }
  const dir = tempDir('rapid-netgrp-py-');
  const cafile = caFile(c.rapid.ca, dir);

  const out = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    // The system interpreter: only it sees Debian's dist-packages.
    const proc = spawn('/usr/bin/python3', ['-c', PY_FLOW, '127.0.0.1', String(c.rapid.port), 'admin', 'adminpw', cafile], { stdio: ['ignore', 'pipe', 'pipe'] });
    recordPid(proc.pid!, 'python3');
    let text = '';
    proc.stdout.on('data', (b: Buffer) => (text += b));
    proc.stderr.on('data', (b: Buffer) => (text += b));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      unrecordPid(proc.pid!);
      resolve({ code, text });
    });
  });
  t.log(out.text.trimEnd());
  t.is(out.code, 0);
  t.regex(out.text, /^ALL OK$/m);
});
