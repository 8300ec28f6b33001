// Nodes joining one Redis: workers register themselves with the cluster
// secret, the CLI lists and removes them, and a silent worker's node reports
// no live data while its instances show ERROR_nodedown.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { startCluster, startWorker, createBody, NODE, type TestCluster } from './helpers/cluster.ts';
import { rapi } from './helpers/http.ts';
import { repoRoot } from './helpers/pids.ts';

const run = promisify(execFile);
let c: TestCluster;
test.before(async () => { c = await startCluster({}, ['node2.example.com', 'node3.example.com']); });
test.after.always(async () => { await c?.stop(); });

const cli = (...args: string[]) => run(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli.js'), ...args], { env: { ...process.env, REDIS_URL: c.redis.url } });

test.serial('workers join and appear as nodes with live data', async (t) => {
  const nodes = (await rapi(c.rapid, 'GET', '/2/nodes?bulk=1')).json;
  t.deepEqual(nodes.map((n: { name: string }) => n.name), [NODE, 'node2.example.com', 'node3.example.com']);
  const n2 = nodes[1];
  t.is(n2.pip, '127.0.0.2');
  t.is(n2.role, 'C', 'promoted to master candidate while the pool has room');
  t.is(typeof n2.mfree, 'number');
  t.is(n2['group.uuid'], nodes[0]['group.uuid']);
  const joinJobs = (await rapi(c.rapid, 'GET', '/2/jobs?bulk=1')).json.filter((j: { summary: string[] }) => j.summary[0].startsWith('NODE_ADD'));
  t.is(joinJobs.length, 2);
  t.deepEqual(joinJobs.map((j: { status: string }) => j.status), ['success', 'success']);
  t.is(joinJobs[0].ops[0].reason[0][0], 'rapid:node-worker');
  const { stdout } = await cli('node', 'list');
  t.regex(stdout, /^Node\s+DTotal\s+DFree\s+MTotal\s+MNode\s+MFree\s+Pinst\s+Sinst$/m);
  t.regex(stdout, /^node3\.example\.com\s/m);
});

test.serial('a worker with a wrong secret cannot join', async (t) => {
  const err = await t.throwsAsync(startWorker(c.redis.url, '/dev/null', 'intruder', '127.0.0.9'));
  t.regex(err!.message, /cluster secret is missing or wrong/);
  t.is((await rapi(c.rapid, 'GET', '/2/nodes/intruder')).status, 404);
});

test.serial('instances run on any node; a dead worker means ERROR_nodedown and null live data', async (t) => {
  const job = await c.job('POST', '/2/instances', { body: createBody('on3', { pnode: 'node3.example.com' }) });
  t.is(job.status, 'success', JSON.stringify(job.opresult));
  t.deepEqual(job.opresult, [['node3.example.com']]);
  t.is((await rapi(c.rapid, 'GET', '/2/instances/on3')).json.status, 'running');
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/nodes/node3.example.com')).json.pinst_list, ['on3']);

  await c.workers.get('node3.example.com')!.kill9();
  c.workers.delete('node3.example.com');
  let inst;
  for (let i = 0; i < 150; i++) {
    inst = (await rapi(c.rapid, 'GET', '/2/instances/on3')).json;
    if (inst.status === 'ERROR_nodedown') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(inst.status, 'ERROR_nodedown');
  t.is(inst.oper_state, null);
  const n3 = (await rapi(c.rapid, 'GET', '/2/nodes/node3.example.com')).json;
  t.is(n3.mfree, null);
  t.is(n3.dtotal, null);
  // A job needing that node fails at once with a clear message instead of hanging.
  const stop = await c.job('PUT', '/2/instances/on3/shutdown');
  t.is(stop.status, 'error');
  t.regex(stop.opresult[0][1][0], /node3\.example\.com is not responding/);

  // The worker comes back (its guest state survived on disk) and the instance is fine again.
  await c.addNode('node3.example.com', '127.0.0.3');
  for (let i = 0; i < 100; i++) {
    inst = (await rapi(c.rapid, 'GET', '/2/instances/on3')).json;
    if (inst.status === 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(inst.status, 'running');
});

test.serial('nodes are removed with the CLI; the master and nodes with instances are refused', async (t) => {
  await t.throwsAsync(cli('node', 'remove', NODE), { message: /Node is the master node/ });
  await t.throwsAsync(cli('node', 'remove', 'node3.example.com'), { message: /Instance on3 is still running on the node/ });
  const { stdout } = await cli('node', 'remove', 'node2.example.com');
  t.regex(stdout, /Submitted job \d+/);
  t.is((await rapi(c.rapid, 'GET', '/2/nodes/node2.example.com')).status, 404);
  const w = c.workers.get('node2.example.com')!;
  for (let i = 0; i < 100 && w.proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(w.proc.exitCode, 0, 'the removed node\'s worker stops by itself');
  c.workers.delete('node2.example.com');
});
