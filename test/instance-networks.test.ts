import test from 'ava';
import { startCluster, createBody, type TestCluster } from './helpers/cluster.ts';
import { rapi } from './helpers/http.ts';

let c: TestCluster;
test.before(async () => { c = await startCluster({}, ['node2.example.com']); });
test.after.always(async () => { await c?.stop(); });
const get = async (p: string) => (await rapi(c.rapid, 'GET', p)).json;

test.serial('instances on networks', async (t) => {
  t.is((await c.job('POST', '/2/networks', { body: { name: 'lan', network: '10.5.0.0/29', gateway: '10.5.0.1', mac_prefix: 'aa:bb:cc' } })).status, 'success');
  const notConn = await c.job('POST', '/2/instances', { body: createBody('i0', { nics: [{ network: 'lan', ip: 'pool' }] }) });
  t.deepEqual(notConn.opresult[0][1][1], 'wrong_input');
  t.log(notConn.opresult[0][1][0]);
  t.is((await c.job('PUT', '/2/networks/lan/connect', { body: { group_name: 'default', network_mode: 'routed', network_link: 'rt0' } })).status, 'success');
  const a = await c.job('POST', '/2/instances', { body: createBody('i1', { nics: [{ network: 'lan', ip: 'pool' }, { network: 'lan', ip: '10.5.0.5' }] }) });
  t.is(a.status, 'success', JSON.stringify(a.opresult));
  const i1 = await get('/2/instances/i1');
  t.deepEqual(i1['nic.ips'], ['10.5.0.2', '10.5.0.5']);
  t.deepEqual(i1['nic.networks.names'], ['lan', 'lan']);
  t.deepEqual(i1['nic.modes'], ['routed', 'routed']);
  t.deepEqual(i1['nic.links'], ['rt0', 'rt0']);
  t.true(i1['nic.macs'].every((m: string) => m.startsWith('aa:bb:cc:')));
  const lan = await get('/2/networks/lan');
  t.is(lan.map, 'XXX..X.X');
  t.deepEqual(lan.inst_list, ['i1']);
  const dup = await c.job('POST', '/2/instances', { body: createBody('i2', { nics: [{ network: 'lan', ip: '10.5.0.5' }] }) });
  t.deepEqual(dup.opresult[0], ['OpPrereqError', ['IP address 10.5.0.5 already in use or does not belong to network lan', 'resource_not_unique']]);
  const outside = await c.job('POST', '/2/instances', { body: createBody('i3', { nics: [{ ip: '10.5.0.3' }] }) });
  t.deepEqual(outside.opresult[0], ['OpPrereqError', ['The requested IP address (10.5.0.3) belongs to network lan, but the target NIC does not.', 'wrong_state']]);
  const disc = await c.job('PUT', '/2/networks/lan/disconnect', { body: { group_name: 'default' } });
  t.deepEqual(disc.opresult[0], ['OpPrereqError', ['Conflicting IP addresses found;  remove/modify the corresponding network interfaces', 'wrong_state']]);
  t.log(disc.oplog[0].map((e: unknown[]) => e[3]));
  // fill the pool
  t.is((await c.job('POST', '/2/instances', { body: createBody('i4', { nics: [{ network: 'lan', ip: 'pool' }, { network: 'lan', ip: 'pool' }, { network: 'lan', ip: 'pool' }] }) })).status, 'success');
  const full = await c.job('POST', '/2/instances', { body: createBody('i5', { nics: [{ network: 'lan', ip: 'pool' }] }) });
  t.deepEqual(full.opresult[0], ['OpPrereqError', ['Unable to get a free IP for NIC 0 from the address pool', 'wrong_state']]);
  t.is((await c.job('DELETE', '/2/instances/i1')).status, 'success');
  t.is((await get('/2/networks/lan')).map, 'XX.XX.XX');
  t.is((await c.job('DELETE', '/2/instances/i4')).status, 'success');
  t.is((await get('/2/networks/lan')).map, 'XX.....X');
  t.is((await c.job('PUT', '/2/networks/lan/disconnect', { body: { group_name: 'default' } })).status, 'success');
  t.is((await c.job('DELETE', '/2/networks/lan')).status, 'success');
});
