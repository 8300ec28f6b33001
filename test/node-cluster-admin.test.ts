// Node and cluster administration on a three-node fake cluster: node roles
// and the master candidate pool, node modify, power cycles, evacuation and
// migration through child jobs, storage listings read on each node, and
// PUT /2/modify showing up in /2/info. Bad input never changes anything.
import test, { type ExecutionContext } from 'ava';
import path from 'node:path';
import { startCluster, createBody, NODE, READER, type TestCluster } from './helpers/cluster.ts';
import { rapi, waitForJob } from './helpers/http.ts';

const NODE2 = 'node2.example.com';
const NODE3 = 'node3.example.com';

let c: TestCluster;
test.before(async () => {
  c = await startCluster({}, [NODE2, NODE3]);
  for (const [name, pnode] of [['on2', NODE2], ['on3', NODE3]]) {
    const job = await c.job('POST', '/2/instances', { body: createBody(name, { pnode }) });
    if (job.status !== 'success') throw new Error(`fixture ${name}: ${JSON.stringify(job.opresult)}`);
  }
});
test.after.always(async () => { await c?.stop(); });

// ---- helpers ------------------------------------------------------------------

const get = async (p: string) => (await rapi(c.rapid, 'GET', p)).json;
const info = () => get('/2/info');
const nodesByName = async (): Promise<Record<string, any>> =>
  Object.fromEntries((await get('/2/nodes?bulk=1')).map((n: { name: string }) => [n.name, n]));
/** The configuration side of every node (live data such as mfree moves on its own). */
const nodeConfigs = async () => Object.fromEntries(Object.entries(await nodesByName()).map(([n, d]) => [n, {
  role: d.role, offline: d.offline, drained: d.drained, master_candidate: d.master_candidate, master_capable: d.master_capable,
  vm_capable: d.vm_capable, ndparams: d.ndparams, sip: d.sip, serial_no: d.serial_no,
}]));
const roles = async () => Object.fromEntries(Object.entries(await nodesByName()).map(([n, d]) => [n, d.role]));
const roleWord = (node: string) => get(`/2/nodes/${node}/role`);
const setRole = (node: string, role: string, query = '') =>
  c.job('PUT', `/2/nodes/${node}/role${query}`, { body: JSON.stringify(role) });
const messages = (job: any): string[] => (job.oplog as unknown[][][]).flat().map((e) => e[3] as string);

function succeeded(t: ExecutionContext, job: any): void {
  t.is(job.status, 'success', JSON.stringify(job.opresult));
}
function failedWith(t: ExecutionContext, job: any, cls: string, msg: string | RegExp, ecode?: string): void {
  t.is(job.status, 'error');
  const [gotCls, [gotMsg, gotEcode]] = job.opresult[0];
  t.is(gotCls, cls);
  if (typeof msg === 'string') t.is(gotMsg, msg);
  else t.regex(gotMsg, msg);
  t.is(gotEcode, ecode);
}
async function badRequest(t: ExecutionContext, method: string, p: string, body: unknown, message: string, status = 400) {
  const res = await c.w(method, p, body === undefined ? {} : { body });
  t.is(res.status, status, res.text);
  // Ganeti HTML-escapes error messages.
  t.is(res.json?.message, message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;'));
}
async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const childJobs = async (job: any): Promise<any[]> => {
  const ids = (job.opresult[0].jobs as [boolean, number][]).map(([ok, id]) => {
    if (ok !== true) throw new Error(`child job not submitted: ${id}`);
    return id;
  });
  return Promise.all(ids.map((id) => waitForJob(c.rapid, id, undefined, 60_000)));
};

// ---- roles and the candidate pool -----------------------------------------------

test.serial('role words and letters agree; PUT role changes them as Ganeti does', async (t) => {
  t.deepEqual(await roles(), { [NODE]: 'M', [NODE2]: 'C', [NODE3]: 'C' });
  t.is(await roleWord(NODE), 'master');
  t.is(await roleWord(NODE3), 'master-candidate');

  const drain = await setRole(NODE3, 'drained', '?force=1');
  succeeded(t, drain);
  t.deepEqual(drain.opresult, [[['master_candidate', 'False'], ['drained', 'True']]]);
  const op = drain.ops[0];
  t.like(op, { OP_ID: 'OP_NODE_SET_PARAMS', node_name: NODE3, master_candidate: null, offline: null, drained: true, force: true, auto_promote: false });
  t.is((await roles())[NODE3], 'D');
  t.is(await roleWord(NODE3), 'drained');
  t.true((await get(`/2/nodes/${NODE3}`)).drained);

  // Back to "regular": the pool has room, so Ganeti promotes the node at once.
  const back = await setRole(NODE3, 'regular');
  succeeded(t, back);
  t.deepEqual(back.opresult, [[['master_candidate', 'True'], ['drained', 'False']]]);
  t.true(messages(back).includes(' - INFO: Auto-promoting node to master candidate'));
  t.like(back.ops[0], { master_candidate: false, offline: false, drained: false });
  t.is(await roleWord(NODE3), 'master-candidate');
});

test.serial('bad role requests are refused before a job exists; the master keeps its role', async (t) => {
  const before = await roles();
  const jobsBefore = (await get('/2/jobs')).length;
  await badRequest(t, 'PUT', `/2/nodes/${NODE3}/role`, JSON.stringify('master'), "Can't set 'master' role");
  await badRequest(t, 'PUT', `/2/nodes/${NODE3}/role`, JSON.stringify('bogus'), "Can't set 'bogus' role");
  await badRequest(t, 'PUT', `/2/nodes/${NODE3}/role`, { role: 'offline' }, "Body contents: Type is 'dict', but 'str' is expected");
  await badRequest(t, 'PUT', `/2/nodes/${NODE3}/role`, undefined, "Body contents: Type is 'NoneType', but 'str' is expected");
  await badRequest(t, 'PUT', `/2/nodes/${NODE3}/role?auto-promote=yes`, JSON.stringify('offline'), "Invalid value for the 'auto-promote' parameter");
  t.is((await rapi(c.rapid, 'PUT', `/2/nodes/${NODE3}/role`, { body: JSON.stringify('offline') })).status, 401);
  t.is((await rapi(c.rapid, 'PUT', `/2/nodes/${NODE3}/role`, { ...READER, body: JSON.stringify('offline') })).status, 403);
  t.is((await get('/2/jobs')).length, jobsBefore, 'no job was submitted');

  failedWith(t, await setRole(NODE, 'drained'), 'OpPrereqError', 'The master role can be changed only via master-failover', 'wrong_input');
  failedWith(t, await setRole('ghost.example.com', 'offline'), 'OpPrereqError', "Node 'ghost.example.com' not known", 'unknown_entity');
  t.is((await rapi(c.rapid, 'GET', '/2/nodes/ghost.example.com/role')).status, 404);
  t.deepEqual(await roles(), before);
});

test.serial('demoting a candidate needs auto-promote when the pool would run short', async (t) => {
  const shrink = await c.job('PUT', '/2/modify', { body: { candidate_pool_size: 2 } });
  succeeded(t, shrink);
  t.true(messages(shrink).includes(' - INFO: Note: more nodes are candidates (3) than desired (2)'));

  const regular = await setRole(NODE3, 'regular');
  succeeded(t, regular);
  t.deepEqual(regular.opresult, [[['master_candidate', 'False']]]);
  t.deepEqual(await roles(), { [NODE]: 'M', [NODE2]: 'C', [NODE3]: 'R' });

  failedWith(t, await setRole(NODE2, 'offline'), 'OpPrereqError',
    'Not enough master candidates, please pass auto promote option to allow promotion (--auto-promote or RAPI auto_promote=True)', 'wrong_state');
  t.deepEqual(await roles(), { [NODE]: 'M', [NODE2]: 'C', [NODE3]: 'R' }, 'nothing changed');

  const offline = await setRole(NODE2, 'offline', '?auto-promote=1');
  succeeded(t, offline);
  t.deepEqual(offline.opresult, [[['master_candidate', 'False'], ['offline', 'True']]]);
  t.true(messages(offline).includes(` - INFO: Promoted nodes to master candidate role: ${NODE3}`));
  t.deepEqual(await roles(), { [NODE]: 'M', [NODE2]: 'O', [NODE3]: 'C' });
  t.is(await roleWord(NODE2), 'offline');
});

test.serial("an offline node's instances show ERROR_nodeoffline; bringing it back online restores them", async (t) => {
  const inst = await get('/2/instances/on2');
  t.is(inst.status, 'ERROR_nodeoffline');
  t.is(inst.oper_state, null);
  t.is(inst.oper_ram, null);
  const n2 = await get(`/2/nodes/${NODE2}`);
  t.true(n2.offline);
  t.is(n2.mfree, null);
  t.is(n2.dtotal, null);
  failedWith(t, await c.job('PUT', '/2/instances/on2/shutdown'), 'OpPrereqError', /offline/, 'wrong_state');
  failedWith(t, await c.job('POST', `/2/nodes/${NODE2}/powercycle`), 'OpExecError', 'Failed to schedule the reboot: Node is marked offline');

  const online = await c.job('POST', `/2/nodes/${NODE2}/modify`, { body: { offline: false } });
  succeeded(t, online);
  t.deepEqual(online.opresult, [[['offline', 'False']]]);
  t.true(messages(online).includes(' - WARNING: Transitioning node from offline to online state without using re-add. Please make sure the node is healthy!'));
  t.is((await roles())[NODE2], 'R', 'the pool (2) is full, so no auto-promotion');
  t.is((await until(() => get('/2/instances/on2'), (i) => i.status === 'running')).status, 'running');
});

// ---- node modify --------------------------------------------------------------------

test.serial('node modify: ndparams, capabilities and the secondary IP, with Ganeti\'s checks', async (t) => {
  const modify = (node: string, body: unknown) => c.job('POST', `/2/nodes/${node}/modify`, { body });

  const nd = await modify(NODE3, { ndparams: { spindle_count: '4', ssh_port: 2222 } });
  succeeded(t, nd);
  t.deepEqual(nd.opresult, [[]]);
  t.like((await get(`/2/nodes/${NODE3}`)).ndparams, { spindle_count: 4, ssh_port: 2222 });
  succeeded(t, await modify(NODE3, { ndparams: { spindle_count: 'default' } }));
  t.like((await get(`/2/nodes/${NODE3}`)).ndparams, { spindle_count: 1, ssh_port: 2222 });

  const before = await nodeConfigs();
  failedWith(t, await modify(NODE3, { ndparams: { exclusive_storage: true } }), 'OpPrereqError',
    'The following node parameters are global and cannot be customized at node level, please modify them at cluster or group level: exclusive_storage', 'wrong_input');
  failedWith(t, await modify(NODE3, { ndparams: { spindle_count: 'many' } }), 'TypeEnforcementError', "'spindle_count' (value many) is not a valid integer");
  failedWith(t, await modify(NODE2, { vm_capable: false }), 'OpPrereqError', `Node ${NODE2} hosts instances, cannot unset the vm_capable flag`, 'wrong_state');
  failedWith(t, await modify(NODE3, {}), 'OpPrereqError', 'Please pass at least one modification', 'wrong_input');
  failedWith(t, await modify(NODE3, { master_capable: true, vm_capable: true }), 'OpPrereqError', "Can't set the node into more than one state at the same time", 'wrong_input');
  const powered = await modify(NODE3, { offline: false, powered: true });
  failedWith(t, powered, 'OpPrereqError', `Unable to change powered state for node ${NODE3} as it does not support out-of-band handling`, 'wrong_state');
  t.true(messages(powered).includes(' - INFO: Ignoring request to unset flag offline, already unset'));
  failedWith(t, await modify(NODE3, { master_capable: false }), 'OpPrereqError', /^Not enough master candidates/, 'wrong_state');
  failedWith(t, await modify(NODE3, { secondary_ip: 'not-an-ip' }), 'OpPrereqError', 'Secondary IP (not-an-ip) needs to be a valid IPv4 address', 'wrong_input');
  failedWith(t, await modify(NODE3, { secondary_ip: '192.0.2.7' }), 'OpPrereqError',
    'Changing the secondary ip on a single-homed cluster requires the --force option to be passed, and the target node to be the master', 'wrong_input');
  // The master's worker is asked whether the host owns the address (it binds a socket to it).
  const notOwned = await modify(NODE, { secondary_ip: '192.0.2.7', force: true });
  failedWith(t, notOwned, 'OpPrereqError', "Node claims it doesn't have the secondary ip you gave (192.0.2.7), please fix and re-run this command", 'environment_error');
  t.true(messages(notOwned).some((m) => m.startsWith(' - WARNING: Transitioning from single-homed to multi-homed cluster')));
  const dry = await modify(NODE3, { ndparams: { spindle_count: 9 }, dry_run: true });
  succeeded(t, dry);
  t.deepEqual(dry.opresult, [null]);
  t.deepEqual(await nodeConfigs(), before, 'refused and dry-run changes change nothing');

  for (const [body, message] of [
    [[1], "Body contents: Type is 'list', but 'dict' is expected"],
    ['"offline"', "Body contents: Type is 'str', but 'dict' is expected"],
  ] as const) await badRequest(t, 'POST', `/2/nodes/${NODE3}/modify`, body, message);
  const badBool = await c.w('POST', `/2/nodes/${NODE3}/modify`, { body: { offline: 'yes' } });
  t.is(badBool.status, 400);
  t.regex(badBool.json.message, /offline/);

  // The node's own address: its worker owns it.
  const pip = (await get(`/2/nodes/${NODE3}`)).pip;
  const sip = await modify(NODE3, { secondary_ip: pip });
  succeeded(t, sip);
  t.deepEqual(sip.opresult, [[['secondary_ip', pip]]]);

  // Not master capable: demoted, and the pool refilled with auto_promote.
  const incapable = await modify(NODE3, { master_capable: false, auto_promote: true });
  succeeded(t, incapable);
  t.deepEqual(incapable.opresult, [[['master_capable', 'False'], ['master_candidate', 'False']]]);
  t.true(messages(incapable).includes(' - INFO: Demoting from master candidate'));
  t.true(messages(incapable).includes(` - INFO: Promoted nodes to master candidate role: ${NODE2}`));
  t.deepEqual(await roles(), { [NODE]: 'M', [NODE2]: 'C', [NODE3]: 'R' });
  failedWith(t, await setRole(NODE3, 'master-candidate'), 'OpPrereqError', `Node ${NODE3} is not master capable, cannot make it a master candidate`, 'wrong_state');
  const capable = await modify(NODE3, { master_capable: true });
  succeeded(t, capable);
  t.deepEqual(capable.opresult, [[['master_capable', 'True']]]);
  t.true((await get(`/2/nodes/${NODE3}`)).master_capable);
});

// ---- power cycle ------------------------------------------------------------------------

test.serial("a power cycle stops the node's guests after five seconds; the host and other nodes carry on", async (t) => {
  failedWith(t, await c.job('POST', `/2/nodes/${NODE}/powercycle`), 'OpPrereqError', 'The node is the master and the force parameter was not set', 'wrong_input');
  t.is((await get('/2/instances/on3')).status, 'running');

  const cycle = await c.job('POST', `/2/nodes/${NODE3}/powercycle`);
  succeeded(t, cycle);
  t.deepEqual(cycle.opresult, ['Reboot scheduled in 5 seconds']);
  t.is((await get('/2/instances/on3')).status, 'running', 'not yet');
  const down = await until(() => get('/2/instances/on3'), (i) => i.status === 'ERROR_down');
  t.is(down.status, 'ERROR_down', 'the guest died; its admin state is still up');
  t.is(down.oper_state, false);
  t.is((await get('/2/instances/on2')).status, 'running', 'other nodes are untouched');
  t.is(c.workers.get(NODE3)!.proc.exitCode, null, 'the worker (and its host) keep running');

  succeeded(t, await c.job('PUT', '/2/instances/on3/startup'));
  t.is((await get('/2/instances/on3')).status, 'running');
});

// ---- evacuation and migration ------------------------------------------------------------

test.serial('evacuate moves primary instances off a node through child jobs', async (t) => {
  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('ev1', { pnode: NODE3 }) }));
  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('ev2', { pnode: NODE3, start: false }) }));
  const dry = await c.job('POST', `/2/nodes/${NODE3}/evacuate?dry-run=1`, { body: { mode: 'primary-only', iallocator: 'hail' } });
  succeeded(t, dry);
  t.deepEqual(dry.opresult, [null]);
  t.deepEqual((await get(`/2/nodes/${NODE3}`)).pinst_list, ['ev1', 'ev2', 'on3']);

  const evac = await c.job('POST', `/2/nodes/${NODE3}/evacuate`, { body: { mode: 'primary-only', iallocator: 'hail', early_release: true } });
  succeeded(t, evac);
  t.deepEqual(Object.keys(evac.opresult[0]), ['jobs']);
  t.true(messages(evac).includes(` - INFO: Evacuating instances from node '${NODE3}': ev1, ev2, on3`));
  t.true(messages(evac).some((m) => m.startsWith(' - INFO: Instances to be moved: ev1 (to node')));
  const children = await childJobs(evac);
  t.is(children.length, 3);
  for (const child of children) {
    succeeded(t, child);
    const op = child.ops[0];
    t.like(op, { OP_ID: 'OP_INSTANCE_MIGRATE', allow_failover: true, allow_runtime_changes: false, ignore_hvversions: true, comment: 'Submitted by OP_NODE_EVACUATE' });
    t.true([NODE, NODE2].includes(op.target_node), op.target_node);
    t.true(op.reason.some((r: string[]) => r[0] === 'gnt:library:rlib2:nodes_name_evacuate'), 'the parent\'s reason trail');
    const inst = await get(`/2/instances/${op.instance_name}`);
    t.is(inst.pnode, op.target_node);
    t.is(inst.status, op.instance_name === 'ev2' ? 'ADMIN_down' : 'running');
  }
  t.deepEqual((await get(`/2/nodes/${NODE3}`)).pinst_list, []);
  succeeded(t, await c.job('DELETE', '/2/instances/ev2'));

  const none = await c.job('POST', `/2/nodes/${NODE3}/evacuate`, { body: { mode: 'secondary-only' } });
  succeeded(t, none);
  t.deepEqual(none.opresult, [{ jobs: [] }]);
  t.true(messages(none).includes(` - INFO: No instances to evacuate from node '${NODE3}'`));
});

test.serial('evacuation refusals: Ganeti\'s texts, and nothing moves', async (t) => {
  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('f1', { pnode: NODE3, disk_template: 'file', disks: [{ size: 1024 }] }) }));
  const evac = (body: Record<string, unknown>, node = NODE3) => c.job('POST', `/2/nodes/${node}/evacuate`, { body });
  const before = await get('/2/instances?bulk=1');
  failedWith(t, await evac({ mode: 'all', iallocator: 'hail' }), 'OpPrereqError',
    'Due to an issue with the iallocator interface it is not possible to evacuate all instances at once; specify explicitly whether to evacuate primary or secondary instances', 'wrong_input');
  failedWith(t, await evac({ mode: 'primary-only', iallocator: 'hail', remote_node: NODE2 }), 'OpPrereqError', 'Do not specify both, iallocator and node', 'wrong_input');
  failedWith(t, await evac({ mode: 'primary-only', remote_node: NODE2 }), 'OpPrereqError', 'Without the use of an iallocator only secondary instances can be evacuated', 'wrong_input');
  failedWith(t, await evac({ mode: 'secondary-only', remote_node: NODE3 }), 'OpPrereqError', 'Can not use evacuated node as a new secondary node', 'wrong_input');
  failedWith(t, await evac({ mode: 'primary-only', iallocator: 'nosuch' }), 'OpExecError',
    "Failure while running the iallocator script: iallocator module 'nosuch' not found in the search path");
  const local = await evac({ mode: 'primary-only' });
  failedWith(t, local, 'OpExecError', 'Unable to evacuate instances f1 (Instances of type file cannot be relocated)');
  t.true(messages(local).includes(' - WARNING: Unable to evacuate instances f1 (Instances of type file cannot be relocated)'));
  const missingMode = await c.w('POST', `/2/nodes/${NODE3}/evacuate`, { body: { iallocator: 'hail' } });
  t.is(missingMode.status, 400);
  t.regex(missingMode.json.message, /mode/);
  t.deepEqual(await get('/2/instances?bulk=1'), before);
  succeeded(t, await c.job('DELETE', '/2/instances/f1'));
});

test.serial('node migrate submits one migration per primary instance, body or legacy query', async (t) => {
  await badRequest(t, 'POST', `/2/nodes/${NODE2}/migrate?live=1&mode=live`, undefined, "Only one of 'live' and 'mode' should be passed");
  // A stopped instance gets its migration job too, which refuses it (Ganeti's LUNodeMigrate does not filter).
  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('mgdown', { pnode: NODE2, start: false }) }));
  const primaries = (await get(`/2/nodes/${NODE2}`)).pinst_list as string[];
  t.true(primaries.length > 1);
  const body = await c.job('POST', `/2/nodes/${NODE2}/migrate`, { body: { mode: 'live' } });
  succeeded(t, body);
  const children = await childJobs(body);
  t.deepEqual(children.map((j) => j.ops[0].instance_name).sort(), [...primaries].sort());
  for (const child of children) {
    t.like(child.ops[0], { OP_ID: 'OP_INSTANCE_MIGRATE', mode: 'live', live: null, target_node: null, comment: 'Submitted by OP_NODE_MIGRATE' });
    if (child.ops[0].instance_name === 'mgdown') failedWith(t, child, 'OpPrereqError', /^Can't migrate/, 'wrong_state');
    else succeeded(t, child);
  }
  t.deepEqual((await get(`/2/nodes/${NODE2}`)).pinst_list, ['mgdown']);
  succeeded(t, await c.job('DELETE', '/2/instances/mgdown'));

  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('mg1', { pnode: NODE2 }) }));
  const legacy = await c.job('POST', `/2/nodes/${NODE2}/migrate?live=0`, { body: { mode: 'live' } });
  succeeded(t, legacy);
  t.like(legacy.ops[0], { mode: 'non-live', live: null });
  const [child] = await childJobs(legacy);
  succeeded(t, child);
  t.like(child.ops[0], { instance_name: 'mg1', mode: 'non-live' });
  t.not((await get('/2/instances/mg1')).pnode, NODE2);
  t.is((await get('/2/instances/mg1')).status, 'running');

  const empty = await c.job('POST', `/2/nodes/${NODE2}/migrate`);
  t.deepEqual(empty.opresult, [{ jobs: [] }]);
  failedWith(t, await c.job('POST', '/2/nodes/ghost.example.com/migrate'), 'OpPrereqError', "Node 'ghost.example.com' not known", 'unknown_entity');
});

// ---- storage ----------------------------------------------------------------------------------

test.serial('storage listings are read on each node, with Ganeti\'s fields', async (t) => {
  const FIELDS = 'name,size,used,free,allocatable,type,node';
  const list = (node: string, query: string) => c.job('GET', `/2/nodes/${node}/storage?${query}`);
  t.is((await rapi(c.rapid, 'GET', `/2/nodes/${NODE}/storage?output_fields=name`)).status, 401);
  t.is((await rapi(c.rapid, 'GET', `/2/nodes/${NODE}/storage?output_fields=name`, READER)).status, 403);
  await badRequest(t, 'GET', `/2/nodes/${NODE}/storage?storage_type=file`, undefined, "Missing the required 'output_fields' parameter");

  const one = await list(NODE, `storage_type=file&output_fields=${FIELDS}`);
  succeeded(t, one);
  t.like(one.ops[0], { OP_ID: 'OP_NODE_QUERY_STORAGE', nodes: [NODE], storage_type: 'file', output_fields: FIELDS.split(',') });
  const [[name, size, used, free, allocatable, type, node]] = one.opresult[0];
  t.is(name, path.join(c.rapid.dataDir, 'storage'));
  t.true(Number.isInteger(size) && Number.isInteger(used) && Number.isInteger(free) && size >= free);
  t.deepEqual([allocatable, type, node], [true, 'file', NODE]);

  const shared = await list(NODE2, 'storage_type=sharedfile&output_fields=node,type,name');
  t.deepEqual(shared.opresult[0], [[NODE2, 'sharedfile', (await rapi(c.rapid, 'GET', '/2/info')).json.shared_file_storage_dir]],
    'sharedfile storage is the cluster-wide shared directory');
  const usage = async () => (await list(NODE2, 'storage_type=file&output_fields=node,used,type,name')).opresult[0];
  const [[n2, usedBefore, st, dir2]] = await usage();
  t.deepEqual([n2, st], [NODE2, 'file']);
  t.not(dir2, name, "node2's own storage directory, as its worker reports it");
  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('st1', { pnode: NODE2, disk_template: 'file', disks: [{ size: 1024 }], start: false }) }));
  const [[, usedAfter]] = await usage();
  t.true(usedAfter >= usedBefore + 1024, `${usedBefore} → ${usedAfter} MiB`);
  succeeded(t, await c.job('DELETE', '/2/instances/st1'));

  const diskless = await list(NODE2, 'storage_type=diskless&output_fields=name');
  succeeded(t, diskless);
  t.deepEqual(diskless.opresult, [[]]);
  t.true(messages(diskless).includes(` - WARNING: Can't get storage data from node ${NODE2}: Unknown storage type: 'diskless'`));

  failedWith(t, await list(NODE, 'output_fields=name'), 'OpPrereqError',
    "Storage reporting for storage type 'diskless' is not supported. Please use the --storage-type option to specify one of the supported storage types (file, gluster, lvm-pv, lvm-vg, sharedfile) or set the default disk template to one that supports storage reporting.");
  failedWith(t, await list(NODE, 'storage_type=lvm-vg&output_fields=name'), 'OpPrereqError',
    "No disk template of storage type 'lvm-vg' is enabled in this cluster. Enabled disk templates are: diskless,file,sharedfile,drbd");
  failedWith(t, await list(NODE, 'storage_type=file&output_fields=name,bogus'), 'OpPrereqError', 'Unknown output fields selected: bogus', 'wrong_input');
  failedWith(t, await list('ghost.example.com', 'storage_type=file&output_fields=name'), 'OpPrereqError', "Node 'ghost.example.com' not known", 'unknown_entity');
  const badType = await c.w('GET', `/2/nodes/${NODE}/storage?storage_type=tape&output_fields=name`);
  t.is(badType.status, 400);
});

test.serial('storage units cannot be modified or repaired on rapid\'s file storage', async (t) => {
  await badRequest(t, 'PUT', `/2/nodes/${NODE}/storage/modify?storage_type=file&allocatable=0`, undefined, "Missing the required 'name' parameter");
  await badRequest(t, 'PUT', `/2/nodes/${NODE}/storage/repair?storage_type=lvm-vg`, undefined, "Missing the required 'name' parameter");
  const file = await c.job('PUT', `/2/nodes/${NODE}/storage/modify?storage_type=file&name=/srv&allocatable=0`);
  t.deepEqual(file.ops[0].changes, { allocatable: false });
  failedWith(t, file, 'OpPrereqError', "Storage units of type 'file' can not be modified", 'wrong_input');
  failedWith(t, await c.job('PUT', `/2/nodes/${NODE}/storage/modify?storage_type=lvm-pv&name=/dev/sda3&allocatable=1`), 'OpPrereqError',
    "No disk template of storage type 'lvm-vg' is enabled in this cluster. Enabled disk templates are: diskless,file,sharedfile,drbd");
  failedWith(t, await c.job('PUT', `/2/nodes/${NODE}/storage/repair?storage_type=file&name=/srv`), 'OpPrereqError', "Storage units of type 'file' can not be repaired", 'wrong_input');
  failedWith(t, await c.job('PUT', `/2/nodes/${NODE}/storage/repair?storage_type=lvm-vg&name=xenvg`), 'OpPrereqError',
    "No disk template of storage type 'lvm-vg' is enabled in this cluster. Enabled disk templates are: diskless,file,sharedfile,drbd");
});

// ---- cluster ----------------------------------------------------------------------------------

/** What PUT /2/modify sets, and where /2/info shows it. */
const SYMMETRY: [string, Record<string, unknown>, (i: any) => unknown, unknown][] = [
  ['candidate_pool_size', { candidate_pool_size: 7 }, (i) => i.candidate_pool_size, 7],
  ['mac_prefix (normalised)', { mac_prefix: 'AA:BB:0C' }, (i) => i.mac_prefix, 'aa:bb:0c'],
  ['beparams memory → maxmem/minmem', { beparams: { memory: 256, vcpus: '2' } }, (i) => i.beparams.default, { always_failover: false, auto_balance: true, maxmem: 256, minmem: 256, spindle_use: 1, vcpus: 2 }],
  ['hvparams', { hvparams: { fake: { migration_mode: 'non-live' } } }, (i) => i.hvparams.fake, { migration_mode: 'non-live' }],
  ['nicparams', { nicparams: { link: 'br7', vlan: '' } }, (i) => i.nicparams.default, { link: 'br7', mode: 'bridged', vlan: '' }],
  ['ndparams', { ndparams: { spindle_count: 3, oob_program: '' } }, (i) => [i.ndparams.spindle_count, i.ndparams.oob_program], [3, '']],
  ['diskparams', { diskparams: { rbd: { pool: 'vms' }, plain: { stripes: '2' } } }, (i) => [i.diskparams.rbd, i.diskparams.plain], [{ access: 'kernelspace', pool: 'vms' }, { stripes: 2 }]],
  ['ipolicy ratios and std', { ipolicy: { 'vcpu-ratio': '2.5', std: { 'memory-size': 256 } } }, (i) => [i.ipolicy['vcpu-ratio'], i.ipolicy.std['memory-size'], i.ipolicy.std['cpu-count']], [2.5, 256, 1]],
  ['ipolicy disk templates', { ipolicy: { 'disk-templates': ['diskless', 'file'] } }, (i) => i.ipolicy['disk-templates'], ['diskless', 'file']],
  ['enabled_hypervisors (kvm gets its defaults)', { enabled_hypervisors: ['fake', 'kvm'] }, (i) => [i.enabled_hypervisors, i.default_hypervisor, i.hvparams.kvm.kvm_path], [['fake', 'kvm'], 'fake', '/usr/bin/kvm']],
  ['hvparams of a second hypervisor', { hvparams: { kvm: { kernel_args: 'ro quiet', vnc_bind_address: '0.0.0.0' } } }, (i) => [i.hvparams.kvm.kernel_args, i.hvparams.kvm.vnc_bind_address], ['ro quiet', '0.0.0.0']],
  ['enabled_hypervisors order', { enabled_hypervisors: ['fake'] }, (i) => [i.enabled_hypervisors, Object.keys(i.hvparams)], [['fake'], ['fake']]],
  ['enabled_disk_templates', { enabled_disk_templates: ['file', 'diskless'] }, (i) => i.enabled_disk_templates, ['file', 'diskless']],
  ['default_iallocator', { default_iallocator: '' }, (i) => i.default_iallocator, ''],
  ['default_iallocator back', { default_iallocator: 'hail', default_iallocator_params: { 'ignore-soft-errors': true } }, (i) => [i.default_iallocator, i.default_iallocator_params], ['hail', { 'ignore-soft-errors': true }]],
  ['job limits', { max_running_jobs: 30, max_tracked_jobs: 40 }, (i) => [i.max_running_jobs, i.max_tracked_jobs], [30, 40]],
  ['booleans', { maintain_node_health: true, prealloc_wipe_disks: true, enabled_user_shutdown: true }, (i) => [i.maintain_node_health, i.prealloc_wipe_disks, i.enabled_user_shutdown], [true, true, true]],
  ['reserved_lvs', { reserved_lvs: ['xenvg/keep'] }, (i) => i.reserved_lvs, ['xenvg/keep']],
  ['uid_pool', { uid_pool: [[2000, 2999]], add_uids: [[1000, 1000]] }, (i) => i.uid_pool, [[2000, 2999]]],
  ['uid_pool add/remove', { add_uids: [[1000, 1099]], remove_uids: [[2000, 2999]] }, (i) => i.uid_pool, [[1000, 1099]]],
  ['hidden and blacklisted OS', { hidden_os: [['add', 'debian'], ['add', 'noop+x']], blacklisted_os: [['add', 'old']] }, (i) => [i.hidden_os, i.blacklisted_os], [['debian', 'noop+x'], ['old']]],
  ['hidden OS removal', { hidden_os: [['remove', 'debian']] }, (i) => i.hidden_os, ['noop+x']],
  ['master network', { master_netdev: 'br0', master_netmask: 24 }, (i) => [i.master_netdev, i.master_netmask], ['br0', 24]],
  ['volume group and DRBD helper (aliases too)', { vg_name: 'xenvg', drbd_helper: '/bin/true' }, (i) => [i.volume_group_name, i.vg_name, i.drbd_usermode_helper, i.drbd_helper], ['xenvg', 'xenvg', '/bin/true', '/bin/true']],
  ['volume group unset', { vg_name: '', drbd_helper: '' }, (i) => [i.vg_name, i.drbd_helper], [null, null]],
  ['os_hvp', { os_hvp: { noop: { fake: { migration_mode: 'live' } } } }, (i) => i.os_hvp, { noop: { fake: { migration_mode: 'live' } } }],
  ['osparams (None removes)', { osparams: { noop: { colour: 'blue', size: null } } }, (i) => i.osparams, { noop: { colour: 'blue' } }],
  ['unmodelled parameters at their fixed value', { use_external_mip_script: false, modify_etc_hosts: false, zeroing_image: '' }, (i) => [i.use_external_mip_script, i.zeroing_image], [false, '']],
];

test.serial('PUT /2/modify shows up in /2/info, parameter by parameter', async (t) => {
  for (const [what, body, read, want] of SYMMETRY) {
    const job = await c.job('PUT', '/2/modify', { body });
    t.is(job.status, 'success', `${what}: ${JSON.stringify(job.opresult)}`);
    t.deepEqual(read(await info()), want, what);
  }
  // Fresh instances pick up the new cluster defaults.
  succeeded(t, await c.job('POST', '/2/instances', { body: createBody('defaults1', { beparams: {}, pnode: NODE2 }) }));
  const inst = await get('/2/instances/defaults1');
  t.like(inst.beparams, { maxmem: 256, minmem: 256, vcpus: 2, memory: 256 });
  t.is(inst['nic.links'][0], 'br7');
  t.true(inst['nic.macs'][0].startsWith('aa:bb:0c:'));
  succeeded(t, await c.job('DELETE', '/2/instances/defaults1'));
  // Restore what later tests rely on.
  succeeded(t, await c.job('PUT', '/2/modify', { body: { enabled_disk_templates: ['diskless', 'file', 'sharedfile'], ipolicy: { 'disk-templates': ['diskless', 'file', 'sharedfile'] }, candidate_pool_size: 10 } }));
});

test.serial('PUT /2/modify refusals: 400/403 before a job, Ganeti\'s errors in the job, /2/info unchanged', async (t) => {
  const before = await info();
  const jobsBefore = (await get('/2/jobs')).length;
  await badRequest(t, 'PUT', '/2/modify', { compression_tools: ['gzip'] }, 'The parameter compression_tools cannot be set via RAPI', 403);
  await badRequest(t, 'PUT', '/2/modify?compression_tools=gzip', { candidate_pool_size: 3 }, 'The parameter compression_tools cannot be set via RAPI', 403);
  await badRequest(t, 'PUT', '/2/modify', undefined, "Body contents: Type is 'NoneType', but 'dict' is expected");
  await badRequest(t, 'PUT', '/2/modify', [['candidate_pool_size', 3]], "Body contents: Type is 'list', but 'dict' is expected");
  for (const body of [{ candidate_pool_size: 0 }, { candidate_pool_size: '3' }, { enabled_hypervisors: ['vmware'] }, { no_such_param: 1 }, { tags: ['x'] }, { maintain_node_health: 'yes' }]) {
    const res = await c.w('PUT', '/2/modify', { body });
    t.is(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
  }
  t.is((await rapi(c.rapid, 'PUT', '/2/modify', { ...READER, body: { candidate_pool_size: 3 } })).status, 403);
  t.is((await get('/2/jobs')).length, jobsBefore, 'no job was submitted');

  const refused: [Record<string, unknown>, string, string | RegExp, string?][] = [
    [{ mac_prefix: 'zz:00:00' }, 'OpPrereqError', "Invalid MAC address prefix 'zz:00:00'", 'wrong_input'],
    [{ master_netmask: 33 }, 'OpPrereqError', 'CIDR netmask (33) not valid', 'wrong_input'],
    [{ uid_pool: [[10, 5]] }, 'OpPrereqError', 'Lower user-id range boundary value (10) is larger than higher boundary value (5)', 'wrong_input'],
    [{ remove_uids: [[5, 6]] }, 'OpPrereqError', 'User-id range to be removed is not found in the current user-id pool: [5, 6]', 'wrong_input'],
    [{ enabled_hypervisors: ['xen-pvm'] }, 'HypervisorError', "Unknown hypervisor type 'xen-pvm'"],
    [{ enabled_hypervisors: [] }, 'OpPrereqError', 'At least one hypervisor must be enabled', 'wrong_input'],
    [{ hvparams: { fake: { migration_mode: 'teleport' } } }, 'HypervisorError', "Parameter 'migration_mode' fails syntax check: invalid migration mode (current value: 'teleport')"],
    [{ hvparams: { fake: { kernel_path: '/vmlinuz' } } }, 'HypervisorError', "Parameter 'kernel_path' is not supported"],
    [{ hvparams: { fake: { warp: 9 } } }, 'TypeEnforcementError', "Unknown parameter 'warp'"],
    [{ beparams: { vcpus: 'many' } }, 'TypeEnforcementError', "'vcpus' (value many) is not a valid integer"],
    [{ ndparams: { ssh_port: 'x' } }, 'TypeEnforcementError', "'ssh_port' (value x) is not a valid integer"],
    [{ nicparams: { mode: 'routed' } }, 'OpPrereqError', /^Cannot apply the change, errors:\n(.+\n)*Instance on2, nic\/0: routed NIC with no ip address/, 'wrong_input'],
    [{ nicparams: { mode: 'tunnel' } }, 'ConfigurationError', "Invalid NIC mode 'tunnel'"],
    [{ diskparams: { rbd: { colour: 'red' } } }, 'TypeEnforcementError', "Unknown parameter 'colour'"],
    [{ diskparams: { rbd: { stripes: 2 } } }, 'OpPrereqError', "While verify diskparams options: ('Provided option keys not supported: rbd/stripes', 'wrong_input')", 'wrong_input'],
    [{ diskparams: { rbd: { access: 'anywhere' } } }, 'OpPrereqError', "While verify diskparams options: Invalid value of 'rbd:access': 'anywhere' (expected one of kernelspace, userspace)", 'wrong_input'],
    [{ ipolicy: { colour: 1 } }, 'OpPrereqError', 'Invalid key in new ipolicy: colour', 'wrong_input'],
    [{ ipolicy: { 'vcpu-ratio': 'fast' } }, 'OpPrereqError', "Invalid value for attribute 'vcpu-ratio': 'fast', error: could not convert string to float: 'fast'", 'wrong_input'],
    [{ ipolicy: { 'disk-templates': 'default' } }, 'OpPrereqError', "Can't unset ipolicy attribute 'disk-templates' on the cluster'", 'wrong_input'],
    [{ ipolicy: { std: { 'memory-size': 1 } } }, 'OpPrereqError', 'Invalid instance policy: Invalid std specifications', 'wrong_input'],
    [{ ipolicy: { 'disk-templates': ['plain'] } }, 'OpPrereqError', 'The following disk templates are allowed by the ipolicy, but not enabled on the cluster: plain', 'wrong_input'],
    [{ enabled_disk_templates: ['diskless', 'file'] }, 'OpPrereqError', 'The following disk templates are allowed by the ipolicy, but not enabled on the cluster: sharedfile', 'wrong_input'],
    [{ enabled_disk_templates: ['file'] }, 'OpPrereqError', /^Cannot disable disk template 'diskless', because there is at least one instance using it:\n \* (on2|on3|ev1|mg1)$/, 'wrong_state'],
    [{ enabled_disk_templates: ['diskless', 'plain'] }, 'OpPrereqError', 'Disk template(s) plain cannot be enabled: a rapid cluster serves diskless, file, sharedfile, drbd', 'wrong_input'],
    [{ default_iallocator: 'nosuch' }, 'OpPrereqError', "Invalid default iallocator script 'nosuch' specified", 'wrong_input'],
    [{ use_external_mip_script: true }, 'OpPrereqError', 'The parameter use_external_mip_script cannot be changed on a rapid cluster (rapid manages no master IP address); it stays False', 'wrong_input'],
    [{ file_storage_dir: '/elsewhere' }, 'OpPrereqError', /^The parameter file_storage_dir cannot be changed on a rapid cluster/, 'wrong_input'],
    [{ hv_state: { fake: { mem_total: 1 } } }, 'OpPrereqError', /^The parameter hv_state cannot be changed on a rapid cluster/, 'wrong_input'],
  ];
  for (const [body, cls, msg, ecode] of refused) {
    const job = await c.job('PUT', '/2/modify', { body });
    t.is(job.status, 'error', JSON.stringify(body));
    failedWith(t, job, cls, msg, ecode);
  }
  const dry = await c.job('PUT', '/2/modify', { body: { candidate_pool_size: 3, mac_prefix: 'ee:ee:ee', dry_run: true } });
  succeeded(t, dry);
  t.deepEqual(await info(), before, 'refusals and dry runs change nothing');
});

test.serial('redistribute-config succeeds and says why there is nothing to copy', async (t) => {
  const job = await c.job('PUT', '/2/redistribute-config');
  succeeded(t, job);
  t.deepEqual(job.opresult, [null]);
  t.like(job.ops[0], { OP_ID: 'OP_CLUSTER_REDIST_CONF' });
  t.true(job.ops[0].reason.some((r: string[]) => r[0] === 'gnt:library:rlib2:redist_config'));
  t.true(messages(job).some((m) => /reads the cluster configuration from Redis/.test(m)));
  t.is((await rapi(c.rapid, 'PUT', '/2/redistribute-config', READER)).status, 403);
});
