// Query2 over RAPI (/2/query/<resource> and /fields) on a three-node fake
// cluster: Ganeti's field tables, per-value result statuses, the filter
// language with Ganeti's messages for malformed filters, access rules, and
// the forms real clients send (official client, ganetimgr, gnt-cc).
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startCluster, createBody, NODE, READER, WRITER, type TestCluster } from './helpers/cluster.ts';
import { rapi, waitForJob, caFile } from './helpers/http.ts';
import { tempDir } from './helpers/pids.ts';

const run = promisify(execFile);
const N2 = 'node2.example.com';
const N3 = 'node3.example.com';

let c: TestCluster;

/** The instances every test sees, in Ganeti's name order. */
const INSTANCES = [
  { name: 'db1.example.com', pnode: N3, start: true, memory: 512, vcpus: 2, tags: ['db', 'prod'], nics: 1 },
  { name: 'db2.example.com', pnode: N2, start: false, memory: 256, vcpus: 1, tags: ['db'], nics: 1 },
  { name: 'db10.example.com', pnode: NODE, start: true, memory: 128, vcpus: 1, tags: ['db', 'test'], nics: 2 },
  { name: 'web1.example.com', pnode: NODE, start: true, memory: 128, vcpus: 2, tags: ['web', 'prod'], nics: 1 },
  { name: 'web2.example.com', pnode: N2, start: false, memory: 128, vcpus: 1, tags: ['web'], nics: 1 },
];
const ALL = INSTANCES.map((i) => i.name);
const [DB1, DB2, DB10, WEB1, WEB2] = ALL as [string, string, string, string, string];
const RUNNING = INSTANCES.filter((i) => i.start).map((i) => i.name);

test.before(async () => {
  c = await startCluster({}, [N2, N3]);
  for (const i of INSTANCES) {
    const job = await c.job('POST', '/2/instances', {
      body: createBody(i.name, {
        pnode: i.pnode, start: i.start, tags: i.tags, beparams: { memory: i.memory, vcpus: i.vcpus },
        nics: Array.from({ length: i.nics }, () => ({})),
      }),
    });
    if (job.status !== 'success') throw new Error(`creating ${i.name}: ${JSON.stringify(job.opresult)}`);
  }
});
test.after.always(async () => { await c?.stop(); });

const put = (what: string, body: unknown, query = '') => c.w('PUT', `/2/query/${what}${query}`, { body });
const get = (pathAndQuery: string) => c.w('GET', pathAndQuery);

/** Rows of a query as plain values, asserting every value is normal (status 0). */
function values(res: { status: number; json: any; text: string }): unknown[][] {
  if (res.status !== 200) throw new Error(`query answered ${res.status}: ${res.text}`);
  return res.json.data.map((row: [number, unknown][]) => row.map(([st, v]) => {
    if (st !== 0) throw new Error(`abnormal status ${st} in ${JSON.stringify(row)}`);
    return v;
  }));
}

/** The instance names a filter selects, in the order Ganeti answers them. */
async function names(qfilter: unknown): Promise<string[]> {
  return values(await put('instance', { fields: ['name'], qfilter })).map((r) => r[0] as string);
}

/** Ganeti's messages reach clients HTML-escaped. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;').replace(/'/g, '&#x27;');

// ---------------------------------------------------------------------------
// Field lists.

test.serial('/fields lists every field of each resource, nice-sorted by name, anonymously', async (t) => {
  const counts = { instance: 292, node: 46, group: 25, network: 19, job: 16, export: 2, lock: 4, filter: 6 };
  for (const [what, n] of Object.entries(counts)) {
    const res = await rapi(c.rapid, 'GET', `/2/query/${what}/fields`);
    t.is(res.status, 200, what);
    t.deepEqual(Object.keys(res.json), ['fields']);
    t.is(res.json.fields.length, n, `${what}: as many fields as query.py defines`);
    for (const f of res.json.fields) t.deepEqual(Object.keys(f), ['name', 'title', 'kind', 'doc']);
  }
  const inst = (await rapi(c.rapid, 'GET', '/2/query/instance/fields')).json.fields.map((f: { name: string }) => f.name);
  // Digits sort as numbers: disk.size/2 before disk.size/10.
  t.true(inst.indexOf('disk.size/2') < inst.indexOf('disk.size/10'));
  t.deepEqual(inst.slice(0, 4), ['admin_state', 'admin_state_source', 'admin_up', 'be/always_failover']);
});

test.serial('/fields?fields= keeps the order asked and describes unknown fields', async (t) => {
  const res = await rapi(c.rapid, 'GET', '/2/query/instance/fields?fields=name,pnode,status,oper_ram,be/memory,hv/kernel_path,'
    + 'disk.size/0,disk.sizes,nic.mac/0,tags,_unknown!,name');
  t.is(res.status, 200);
  t.deepEqual(res.json.fields, [
    { name: 'name', title: 'Instance', kind: 'text', doc: 'Instance name' },
    { name: 'pnode', title: 'Primary_node', kind: 'text', doc: 'Primary node' },
    {
      name: 'status', title: 'Status', kind: 'text',
      doc: 'Instance status; "running" if instance is set to be running and actually is, "ADMIN_down" if instance is '
        + 'stopped and is not running, "ERROR_wrongnode" if instance running, but not on its designated primary node, '
        + '"ERROR_up" if instance should be stopped, but is actually running, "ERROR_down" if instance should run, but '
        + 'doesn\'t, "ERROR_nodedown" if instance\'s primary node is down, "ERROR_nodeoffline" if instance\'s primary node '
        + 'is marked offline, "ADMIN_offline" if instance is offline and does not use dynamic, "USER_down" if the user '
        + 'shutdown the instance resources',
    },
    { name: 'oper_ram', title: 'Memory', kind: 'unit', doc: 'Actual memory usage as seen by hypervisor' },
    { name: 'be/memory', title: 'ConfigMaxMem', kind: 'unit', doc: 'The "maxmem" backend parameter' },
    { name: 'hv/kernel_path', title: 'Kernel_path', kind: 'other', doc: 'The "kernel_path" hypervisor parameter' },
    { name: 'disk.size/0', title: 'Disk/0', kind: 'unit', doc: 'Disk size of 1st disk' },
    { name: 'disk.sizes', title: 'Disk_sizes', kind: 'other', doc: 'List of disk sizes' },
    { name: 'nic.mac/0', title: 'NicMAC/0', kind: 'text', doc: 'MAC address of 1st network interface' },
    { name: 'tags', title: 'Tags', kind: 'other', doc: 'Tags' },
    { name: '_unknown!', title: '_unknown!', kind: 'unknown', doc: "Unknown field '_unknown!'" },
    { name: 'name', title: 'Instance', kind: 'text', doc: 'Instance name' },
  ]);
  const lock = (await rapi(c.rapid, 'GET', '/2/query/lock/fields')).json.fields;
  t.deepEqual(lock.map((f: { name: string }) => f.name), ['mode', 'name', 'owner', 'pending']);
  const job = (await rapi(c.rapid, 'GET', '/2/query/job/fields?fields=id,received_ts,priority')).json.fields;
  t.deepEqual(job, [
    { name: 'id', title: 'ID', kind: 'number', doc: 'Job ID' },
    {
      name: 'received_ts', title: 'Received', kind: 'other',
      doc: 'Timestamp of when job was received (tuple containing seconds and microseconds)',
    },
    { name: 'priority', title: 'Priority', kind: 'number', doc: 'Current job priority (19 to -20)' },
  ]);
  const ndp = (await rapi(c.rapid, 'GET', '/2/query/node/fields?fields=ndp/cpu_speed,role')).json.fields;
  t.deepEqual(ndp[0], { name: 'ndp/cpu_speed', title: 'ndp/cpu_speed', kind: 'float', doc: 'The "cpu_speed" node parameter' });
  t.is(ndp[1].doc, 'Node role; "M" for master, "C" for master candidate, "R" for regular, "D" for drained, "O" for offline');
});

test.serial('only the resources Ganeti queries over RAPI exist', async (t) => {
  for (const p of ['/2/query/os', '/2/query/cluster', '/2/query/extstorage', '/2/query/nosuch/fields', '/2/query/instances']) {
    t.is((await rapi(c.rapid, 'GET', `${p}?fields=name`)).status, 404, p);
  }
  t.is((await rapi(c.rapid, 'POST', '/2/query/instance')).status, 501);
});

// ---------------------------------------------------------------------------
// Access and request forms.

test.serial('/2/query needs read or write; /fields is anonymous', async (t) => {
  const anon = await rapi(c.rapid, 'GET', '/2/query/instance?fields=name');
  t.is(anon.status, 401);
  t.is(anon.headers['www-authenticate'], 'Basic realm="Ganeti Remote API"');
  t.is((await rapi(c.rapid, 'PUT', '/2/query/instance', { body: { fields: ['name'] } })).status, 401);
  t.is((await rapi(c.rapid, 'GET', '/2/query/instance?fields=name', { user: 'nobody', password: 'nobodypw' })).status, 403);
  t.deepEqual(values(await rapi(c.rapid, 'GET', '/2/query/instance?fields=name', READER)).flat(), ALL);
  t.deepEqual(values(await rapi(c.rapid, 'PUT', '/2/query/node', { ...READER, body: { fields: ['name'] } })).flat(),
    [NODE, N2, N3]);
  t.deepEqual(values(await rapi(c.rapid, 'GET', '/2/query/instance?fields=name', WRITER)).flat(), ALL);
  t.is((await rapi(c.rapid, 'GET', '/2/query/job/fields')).status, 200);
});

test.serial('GET takes ?fields= (spaces trimmed); without it 400', async (t) => {
  const missing = await get('/2/query/instance');
  t.is(missing.status, 400);
  t.is(missing.json.message, esc("Missing 'fields' query argument"));
  const res = await get('/2/query/instance?fields=name,%20os%09,name%20');
  t.deepEqual(res.json.fields.map((f: { name: string }) => f.name), ['name', 'os', 'name']);
  t.deepEqual(values(res)[0], [DB1, 'noop', DB1]);
});

test.serial('gnt-cc form: GET /2/query/instance?fields=a,b,c', async (t) => {
  const res = await get('/2/query/instance?fields=name,pnode,status,oper_state,beparams,network_port');
  t.is(res.status, 200);
  t.deepEqual(Object.keys(res.json), ['fields', 'data']);
  t.is(res.json.data.length, 5);
  const web1 = res.json.data[3];
  t.deepEqual(web1.slice(0, 4), [[0, WEB1], [0, NODE], [0, 'running'], [0, true]]);
  t.is(web1[4][1].maxmem, 128, 'filled backend parameters');
  t.false('memory' in web1[4][1], "query's beparams has no rlib2 `memory` shim");
  t.deepEqual(web1[5], [3, null], 'no network port: unavailable');
});

test.serial('ganetimgr form: PUT {fields, qfilter: ["|", ["=", "name", X]]}, also with the legacy "filter" key', async (t) => {
  const fields = ['name', 'pnode', 'snodes', 'status', 'admin_state', 'oper_ram', 'beparams', 'nic.macs', 'tags'];
  for (const key of ['qfilter', 'filter']) {
    const res = await put('instance', { fields, [key]: ['|', ['=', 'name', WEB1]] });
    t.is(res.status, 200, key);
    t.is(res.json.data.length, 1);
    const row = res.json.data[0];
    const v = (f: string) => row[fields.indexOf(f)][1];
    t.is(v('name'), WEB1);
    t.is(v('pnode'), NODE);
    t.deepEqual(v('snodes'), []);
    t.is(v('status'), 'running');
    t.is(v('admin_state'), 'up');
    t.is(typeof v('oper_ram'), 'number');
    t.is((v('beparams') as { vcpus: number }).vcpus, 2);
    t.regex((v('nic.macs') as string[])[0]!, /^aa:00:00:/);
    t.deepEqual(v('tags'), ['web', 'prod']);
  }
  // The node page: the same form on /2/query/node.
  const node = await put('node', { fields: ['name', 'mfree', 'pinst_list'], qfilter: ['|', ['=', 'name', NODE]] });
  t.deepEqual(node.json.data[0][0], [0, NODE]);
  t.is(node.json.data[0][1][0], 0);
  t.deepEqual(node.json.data[0][2], [0, [DB10, WEB1]]);
});

test.serial('PUT: fields from ?fields= when the body has none; bad bodies are 400', async (t) => {
  t.deepEqual(values(await put('instance', {}, '?fields=name')).flat(), ALL);
  const notDict = await put('instance', ['name']);
  t.is(notDict.status, 400);
  t.is(notDict.json.message, esc("Body contents: Type is 'list', but 'dict' is expected"));
  const noFields = await put('instance', { qfilter: null });
  t.is(noFields.json.message, esc("Missing 'fields' query argument"));
  const badFields = await put('instance', { fields: 'name,os' });
  t.is(badFields.status, 400);
  t.is(badFields.json.message, esc("The 'fields' parameter should be a list of strings"));
  // qfilter wins over the legacy key when both are given (the official client sends both).
  t.deepEqual(await names(null), ALL);
  const both = await put('instance', { fields: ['name'], qfilter: ['=', 'name', DB2], filter: ['=', 'name', WEB2] });
  t.deepEqual(values(both).flat(), [DB2]);
});

// ---------------------------------------------------------------------------
// Result statuses per value.

test.serial('each value carries its status: normal, unknown field, unavailable, no data', async (t) => {
  const fields = ['name', 'bogus', 'oper_state', 'oper_ram', 'oper_vcpus', 'network_port', 'nic.ip/0', 'nic.mac/1',
    'disk.size/0', 'disks_active', 'be/maxmem', 'hv/kernel_path', 'disk.count', 'nic.count', 'pnode.group', 'ctime'];
  const res = await put('instance', { fields });
  t.is(res.status, 200);
  const byName = new Map<string, [number, unknown][]>(res.json.data.map((row: [number, unknown][]) => [row[0]![1], row]));
  const st = (inst: string, f: string) => byName.get(inst)![fields.indexOf(f)]!;
  for (const name of ALL) t.deepEqual(st(name, 'bogus'), [1, null], 'an unknown field: status 1 on every row');
  t.deepEqual(st(WEB1, 'oper_state'), [0, true]);
  t.is(st(WEB1, 'oper_ram')[0], 0);
  t.is(st(WEB1, 'oper_ram')[1], 128, 'the fake hypervisor runs it with its memory');
  t.deepEqual(st(WEB1, 'oper_vcpus'), [0, 2]);
  t.deepEqual(st(WEB2, 'oper_state'), [0, false], 'stopped: the hypervisor answered, not running');
  t.deepEqual(st(WEB2, 'oper_ram'), [3, null], 'stopped: no live memory (unavailable)');
  t.deepEqual(st(WEB1, 'network_port'), [3, null]);
  t.deepEqual(st(WEB1, 'nic.ip/0'), [3, null], 'a NIC without IP');
  t.deepEqual(st(WEB1, 'nic.mac/1'), [3, null], 'a second NIC that does not exist');
  t.is(st(DB10, 'nic.mac/1')[0], 0);
  t.deepEqual(st(WEB1, 'disk.size/0'), [3, null], 'diskless');
  t.deepEqual(st(WEB1, 'disks_active'), [2, null]);
  t.deepEqual(st(DB1, 'be/maxmem'), [0, 512]);
  t.deepEqual(st(WEB1, 'hv/kernel_path'), [3, null], 'a parameter the fake hypervisor does not have');
  t.deepEqual(st(DB10, 'nic.count'), [0, 2]);
  t.deepEqual(st(DB10, 'disk.count'), [0, 0]);
  t.deepEqual(st(DB10, 'pnode.group'), [0, 'default']);
  t.is(typeof st(DB10, 'ctime')[1], 'number');
});

// ---------------------------------------------------------------------------
// The filter language.

/** ctime of db2, for timestamp comparisons (instances were created in table order). */
async function ctimeOf(name: string): Promise<number> {
  return values(await put('instance', { fields: ['ctime'], qfilter: ['==', 'name', name] }))[0]![0] as number;
}

test.serial('filters select the rows Ganeti selects', async (t) => {
  const db2Created = await ctimeOf(DB2);
  const table: [unknown, string[], string?][] = [
    [null, ALL, 'no filter'],
    [['==', 'name', WEB1], [WEB1]],
    [['=', 'name', 'web1'], [WEB1], 'legacy "=", and a name matches by its leading components'],
    [['&', ['==', 'name', 'web']], [], 'but not by a prefix that is no component'],
    [['|', ['=', 'name', DB2], ['=', 'name', WEB1]], [DB2, WEB1]],
    [['|', ['=', 'name', WEB1], ['=', 'name', DB2]], [WEB1, DB2], 'a pure name filter answers in the order asked (luxid)'],
    [['!=', 'name', WEB1], [DB1, DB2, DB10, WEB2]],
    [['=~', 'name', '^db'], [DB1, DB2, DB10]],
    [['=~', 'name', '(?i)^WEB'], [WEB1, WEB2], 'Python inline flags'],
    [['=~', 'name', 'db\\d{2}\\.'], [DB10]],
    [['!', ['=~', 'name', '^db']], [WEB1, WEB2]],
    [['==', 'pnode', NODE], [DB10, WEB1]],
    [['=', 'pnode', 'node2'], [DB2, WEB2], 'pnode is a host name field too'],
    [['==', 'admin_state', 'up'], RUNNING],
    [['?', 'admin_up'], RUNNING],
    [['!', ['?', 'admin_up']], [DB2, WEB2]],
    [['==', 'status', 'ADMIN_down'], [DB2, WEB2]],
    [['==', 'oper_state', true], RUNNING],
    [['>', 'be/maxmem', 128], [DB1, DB2]],
    [['>=', 'be/maxmem', 128], [DB1, DB2, DB10, WEB1, WEB2]],
    [['<=', 'be/memory', 128], [DB10, WEB1, WEB2], 'the be/memory alias'],
    [['<=', 'be/vcpus', 1], [DB2, DB10, WEB2]],
    [['==', 'vcpus', 2], [DB1, WEB1]],
    [['=[]', 'tags', 'prod'], [DB1, WEB1]],
    [['&', ['=[]', 'tags', 'db'], ['=[]', 'tags', 'prod']], [DB1]],
    [['|', ['=[]', 'tags', 'test'], ['==', 'name', WEB2]], [DB10, WEB2], 'not a pure name filter: name order'],
    [['==', 'nic.count', 2], [DB10]],
    [['=~', 'nic.mac/0', '^aa:00:00:'], ALL],
    [['?', 'snodes'], [], 'empty lists are false'],
    [['==', 'disk_template', 'diskless'], ALL],
    [['==', 'pnode.group', 'default'], ALL],
    [['<=', 'ctime', db2Created], [DB1, DB2], 'timestamps compare as numbers'],
    [['&'], ALL, 'an empty "and" holds'],
    [['|'], [], 'an empty "or" does not'],
    [['&', ['?', 'admin_up'], ['|', ['=', 'pnode', 'node1'], ['=~', 'name', '^db1\\.']]], [DB1, DB10, WEB1]],
    // Values the query cannot get let their condition pass (luxid's Filter.hs):
    // stopped instances have no live memory, so they stay in.
    [['>', 'oper_ram', 200], [DB1, DB2, WEB2], 'rows without live data pass'],
    [['!', ['>', 'oper_ram', 200]], [DB10, WEB1], 'and fail its negation'],
  ];
  for (const [qfilter, expected, note] of table) {
    t.deepEqual(await names(qfilter), expected, `${JSON.stringify(qfilter)}${note ? ` (${note})` : ''}`);
  }
  t.true(table.length >= 25);
});

test.serial('malformed filters: 400 with Ganeti\'s messages', async (t) => {
  const table: [unknown, string | RegExp][] = [
    ['name', 'Invalid filter on level 0'],
    [[], 'Invalid filter on level 0'],
    [['&', ['==', 'name', 'a'], 'x'], 'Invalid filter on level 1'],
    [['~', 'name'], "Unknown operator '~'"],
    [[5, 'name'], "Unknown operator '5'"],
    [[null], "Unknown operator 'None'"],
    [['?'], "Unary operator '?' expects exactly one operand"],
    [['!', ['?', 'name'], ['?', 'os']], "Unary operator '!' expects exactly one operand"],
    [['?', 'nosuch'], "Unknown field 'nosuch'"],
    [['&', ['!', ['=', 'nosuch', 1]]], "Unknown field 'nosuch'"],
    [['=='], 'Invalid binary operator, expected exactly two operands'],
    [['==', 'name', 'a', 'b'], 'Invalid binary operator, expected exactly two operands'],
    [['==', 'name', 5], "Unable to compare field 'name' (type 'text') with 'int', expected String"],
    [['==', 'name', null], "Unable to compare field 'name' (type 'text') with 'NoneType', expected String"],
    [['==', 'admin_up', 'yes'], "Unable to compare field 'admin_up' (type 'bool') with 'str', expected Boolean"],
    [['<', 'oper_ram', 'big'], "Unable to compare field 'oper_ram' (type 'unit') with 'str', expected Integer"],
    [['<', 'oper_ram', 1.5], "Unable to compare field 'oper_ram' (type 'unit') with 'float', expected Integer"],
    [['==', 'ctime', 'x'], "Unable to compare field 'ctime' (type 'timestamp') with 'str', expected Integer or Float"],
    [['=~', 'oper_vcpus', '1'], "Unable to compare field 'oper_vcpus' (type 'number') with 'str', expected Integer"],
    [['!=', 'hv/acpi', 1], "Unable to compare field 'hv/acpi' (type 'bool') with 'int', expected Boolean"],
    [['=~', 'name', '('], /^Invalid regex pattern \(/],
    [['|', ['|', ['|', ['|', ['|', ['|', ['|', ['|', ['|', ['|', ['?', 'name']]]]]]]]]]],
      'Only up to 10 levels are allowed (filter nested too deep)'],
  ];
  for (const [qfilter, message] of table) {
    const res = await put('instance', { fields: ['name'], qfilter });
    t.is(res.status, 400, JSON.stringify(qfilter));
    if (typeof message === 'string') t.is(res.json.message, esc(message), JSON.stringify(qfilter));
    else t.regex(res.json.message, message, JSON.stringify(qfilter));
  }
  // Type problems only a value can show surface as 400 too.
  const cmp = await put('instance', { fields: ['name'], qfilter: ['<', 'tags', 'a'] });
  t.is(cmp.status, 400);
  t.regex(cmp.json.message, /^Invalid types in comparison/);
});

test.serial('a pure name filter looks objects up: unknown names are an error, as in Ganeti', async (t) => {
  const res = await put('instance', { fields: ['name'], qfilter: ['|', ['=', 'name', WEB1], ['=', 'name', 'ghost.example.com']] });
  t.is(res.status, 404);
  t.is(res.json.message, 'Instance name ghost.example.com not found');
  const node = await put('node', { fields: ['name'], qfilter: ['=', 'name', 'node9'] });
  t.is(node.status, 404);
  t.is(node.json.message, 'Node name node9 not found');
  // With any other operator the filter is only a test: no error, no rows.
  t.deepEqual(await names(['&', ['=', 'name', 'ghost.example.com']]), []);
});

// ---------------------------------------------------------------------------
// Other resources.

test.serial('nodes and groups: the QA master check, roles, instance lists', async (t) => {
  const master = await put('node', { fields: ['name', 'master'], filter: ['?', 'master'] });
  t.deepEqual(master.json.data, [[[0, NODE], [0, true]]]);
  const nodes = values(await get('/2/query/node?fields=name,role,pinst_cnt,sinst_cnt,group,ndp/spindle_count,offline'));
  t.deepEqual(nodes.map((r) => r.slice(0, 5)), [
    [NODE, 'M', 2, 0, 'default'], [N2, 'C', 2, 0, 'default'], [N3, 'C', 1, 0, 'default'],
  ]);
  const live = (await get('/2/query/node?fields=mtotal,mfree,sptotal,hv_state,powered')).json.data[0];
  t.is(live[0][0], 0);
  t.is(typeof live[1][1], 'number');
  t.deepEqual(live[2], [2, null], 'no spindles without LVM: no data');
  t.deepEqual(live[3], [3, null]);
  t.deepEqual(live[4], [3, null], 'no out-of-band program: power state unknown');
  const groups = values(await get('/2/query/group?fields=name,node_cnt,node_list,pinst_cnt,pinst_list'));
  t.deepEqual(groups, [['default', 3, [NODE, N2, N3], 5, ALL]]);
  t.deepEqual(values(await put('group', { fields: ['name'], qfilter: ['=~', 'name', '^def'] })), [['default']]);
  t.deepEqual((await get('/2/query/network?fields=name,free_count')).json, {
    fields: [
      { name: 'name', title: 'Network', kind: 'text', doc: 'Name' },
      { name: 'free_count', title: 'FreeCount', kind: 'number', doc: 'Number of available addresses' },
    ],
    data: [],
  });
});

test.serial('networks: the bulk values with statuses, filtered', async (t) => {
  for (const [path, body] of [
    ['/2/networks', { name: 'lan', network: '10.5.0.0/28', gateway: '10.5.0.1', add_reserved_ips: ['10.5.0.9'] }],
    ['/2/networks', { name: 'lan2', network: '10.6.0.0/24' }],
    ['/2/networks/lan/connect', { group_name: 'default', network_mode: 'bridged', network_link: 'br0' }],
  ] as const) {
    const job = await c.job(path.endsWith('connect') ? 'PUT' : 'POST', path, { body });
    t.is(job.status, 'success', JSON.stringify(job.opresult));
  }
  const fields = ['name', 'network', 'gateway', 'network6', 'group_cnt', 'group_list', 'inst_cnt', 'free_count', 'reserved_count'];
  const res = await put('network', { fields, qfilter: ['<', 'free_count', 100] });
  const bulk = (await get('/2/networks/lan')).json;
  t.deepEqual(res.json.data, [[
    [0, 'lan'], [0, '10.5.0.0/28'], [0, '10.5.0.1'], [3, null], [0, 1], [0, bulk.group_list], [0, 0],
    [0, bulk.free_count], [0, bulk.reserved_count],
  ]], 'the same values as /2/networks/lan; no IPv6 subnet: unavailable');
  t.deepEqual(values(await get('/2/query/network?fields=name,group_cnt')), [['lan', 1], ['lan2', 0]]);
});

test.serial('jobs: sorted by id, filtered by id and status, a missing id has only its id', async (t) => {
  const all = values(await put('job', { fields: ['id', 'status', 'summary'], qfilter: ['>=', 'id', 0] }));
  const ids = all.map((r) => r[0] as number);
  t.true(ids.length >= 5);
  t.deepEqual(ids, [...ids].sort((a, b) => a - b));
  t.true(all.every((r) => r[1] === 'success'));
  const creates = all.filter((r) => String((r[2] as string[])[0]).startsWith('INSTANCE_CREATE'));
  t.is(creates.length, 5);
  const last = creates.at(-1)![0] as number;
  const one = await put('job', { fields: ['id', 'status', 'priority', 'archived', 'opstart', 'ops'], qfilter: ['==', 'id', last] });
  t.is(one.json.data.length, 1);
  const row = one.json.data[0];
  t.deepEqual(row.slice(0, 5), [[0, last], [0, 'success'], [0, 0], [0, false], [3, null]]);
  t.is(row[5][1][0].OP_ID, 'OP_INSTANCE_CREATE');
  const missing = await put('job', { fields: ['id', 'status', 'received_ts'], qfilter: ['|', ['=', 'id', 999999]] });
  t.deepEqual(missing.json.data, [[[0, 999999], [3, null], [3, null]]]);
  const received = values(await put('job', { fields: ['received_ts'], qfilter: ['==', 'id', ids[1]] }))[0]![0] as [number, number];
  const before = values(await put('job', { fields: ['id'], qfilter: ['<=', 'received_ts', received] })).flat();
  t.deepEqual(before, ids.slice(0, 2), 'received_ts compares as seconds.microseconds');
  t.deepEqual(values(await put('job', { fields: ['id'], qfilter: ['==', 'status', 'error'] })), []);
});

test.serial('locks: the running opcode owns them, a conflicting one waits', async (t) => {
  t.deepEqual((await get('/2/query/lock?fields=name,mode,owner,pending')).json.data, [], 'idle cluster: no locks');
  const delay = (duration: number) => c.submitDirect('OP_TEST_DELAY', { duration, on_master: false, on_nodes: [N2], no_locks: false });
  const first = await delay(3);
  const second = await delay(0);
  let data: unknown[] = [];
  for (let i = 0; i < 100; i++) {
    data = (await put('lock', { fields: ['name', 'mode', 'owner', 'pending'] })).json.data;
    if (JSON.stringify(data).includes(`[[\"exclusive\",[\"${second}\"]]]`)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.deepEqual(data, [[
    [0, `node/${N2}`], [0, 'exclusive'], [0, [String(first)]], [0, [['exclusive', [String(second)]]]],
  ]]);
  const filtered = await put('lock', { fields: ['name'], qfilter: ['=~', 'name', '^cluster/'] });
  t.deepEqual(filtered.json.data, []);
  for (const id of [first, second]) t.is((await waitForJob(c.rapid, id, WRITER)).status, 'success');
  t.deepEqual((await get('/2/query/lock?fields=name')).json.data, []);
});

test.serial('exports and job filter rules: none yet', async (t) => {
  t.deepEqual((await get('/2/query/export?fields=node,export')).json.data, [], 'every node answered and has no exports');
  t.deepEqual((await put('export', { fields: ['node'], qfilter: ['=', 'node', 'node2'] })).json.data, []);
  t.deepEqual((await get('/2/query/filter?fields=uuid,priority')).json.data, []);
});

// ---------------------------------------------------------------------------
// The official client.

const PY_QUERY = `
import json, sys
from ganeti.rapi import client
host, port, user, password, cafile = sys.argv[1:6]
cl = client.GanetiRapiClient(host, port=int(port), username=user, password=password,
  curl_config_fn=client.GenericCurlConfig(cafile=cafile, verify_hostname=True))
print(json.dumps({
  "query": cl.Query("instance", ["name", "pnode", "oper_ram", "bogus"], ["|", ["=", "name", "web1"], ["=", "name", "db2"]]),
  "nofilter": cl.Query("node", ["name"]),
  "fields": cl.QueryFields("instance", ["name", "bogus"]),
  "all": cl.QueryFields("lock"),
}))
`;

test.serial('official client: Query and QueryFields', async (t) => {
  const cafile = caFile(c.rapid.ca, tempDir('rapid-query-py-'));
  const args = ['-c', PY_QUERY, '127.0.0.1', String(c.rapid.port), WRITER.user, WRITER.password, cafile];
  const { stdout } = await run('/usr/bin/python3', args, { timeout: 30_000 });
  const out = JSON.parse(stdout);
  t.deepEqual(out.query.fields.map((f: { name: string }) => f.name), ['name', 'pnode', 'oper_ram', 'bogus']);
  t.is(out.query.fields[3].kind, 'unknown');
  t.is(out.query.data.length, 2);
  t.deepEqual(out.query.data[0].slice(0, 2), [[0, WEB1], [0, NODE]]);
  t.deepEqual(out.query.data[0][3], [1, null]);
  t.deepEqual(out.query.data[1].slice(0, 3), [[0, DB2], [0, N2], [3, null]]);
  t.deepEqual(out.nofilter.data, [[[0, NODE]], [[0, N2]], [[0, N3]]]);
  t.deepEqual(out.fields.fields[1], { name: 'bogus', title: 'bogus', kind: 'unknown', doc: "Unknown field 'bogus'" });
  t.deepEqual(out.all.fields.map((f: { name: string }) => f.name), ['mode', 'name', 'owner', 'pending']);
});

// ---------------------------------------------------------------------------
// Last: a node stops answering.

test.serial('a silent node: its live values and its instances\' have no data', async (t) => {
  await c.workers.get(N3)!.kill9();
  c.workers.delete(N3);
  let row: [number, unknown][] = [];
  for (let i = 0; i < 200; i++) {
    row = (await put('instance', { fields: ['name', 'status', 'oper_state', 'oper_ram'], qfilter: ['=', 'name', 'db1'] })).json.data[0];
    if (row[1]![1] === 'ERROR_nodedown') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.deepEqual(row, [[0, DB1], [0, 'ERROR_nodedown'], [2, null], [2, null]]);
  t.deepEqual((await put('node', { fields: ['name', 'mfree', 'bootid'], qfilter: ['=', 'name', 'node3'] })).json.data,
    [[[0, N3], [2, null], [2, null]]]);
  t.deepEqual((await get('/2/query/export?fields=node,export')).json.data, [[[0, N3], [2, null]]],
    'a node that cannot be asked gets a row without export');
  // Its instance passes filters on live values it has none of.
  t.deepEqual(await names(['==', 'oper_state', true]), [DB1, DB10, WEB1]);
});
