// Ganeti's htools (Debian ganeti-htools: hinfo, hbal, hspace, hcheck, hroller)
// reading rapid through their RAPI backend (-m https://...). Their parser is
// strict: a missing or mistyped field in /2/info or the bulk listings of
// groups, nodes and instances makes them fail, so exit status, stderr and the
// parsed output are the assertions.
import test, { type ExecutionContext } from 'ava';
import { rapi, waitForJob } from './helpers/http.ts';
import { htool as tool, htoolsInstalled, keyValues, unexpectedStderr } from './helpers/htools.ts';
import { runProgram } from './helpers/run.ts';
import { startRapid, type RapidProc } from './helpers/rapid.ts';
import { startRedis } from './helpers/redis.ts';

const NODE = 'node1.example.com';
const USER = 'htadmin';
const PASSWORD = 'ht-secret';
const INSTANCES = ['ht1.example.com', 'ht2.example.com', 'ht3.example.com', 'ht4.example.com'];
const MEMORY = 128;

async function createInstances(t: ExecutionContext, rapid: RapidProc): Promise<void> {
  const auth = { user: USER, password: PASSWORD };
  const ids: number[] = [];
  for (const name of INSTANCES) {
    const res = await rapi(rapid, 'POST', '/2/instances', {
      ...auth,
      body: {
        __version__: 1,
        mode: 'create',
        instance_name: name,
        disk_template: 'diskless',
        disks: [],
        nics: [{}],
        os_type: 'noop',
        pnode: NODE,
        hypervisor: 'fake',
        name_check: false,
        ip_check: false,
        beparams: { memory: MEMORY },
      },
    });
    t.is(res.status, 200, `create ${name}: ${res.text}`);
    t.is(typeof res.json, 'number', `create ${name} returns a job id: ${res.text}`);
    ids.push(res.json);
  }
  for (const [i, id] of ids.entries()) {
    const job = await waitForJob(rapid, id, auth, 60_000);
    t.is(job.status, 'success', `create ${INSTANCES[i]} (job ${id}): ${JSON.stringify(job.opresult)}`);
  }
  const bulk = await rapi(rapid, 'GET', '/2/instances?bulk=1');
  t.deepEqual(
    bulk.json.map((i: any) => [i.name, i.status]).sort(),
    INSTANCES.map((n) => [n, 'running']),
  );
}

test('htools read the cluster through rapid', async (t) => {
  t.timeout(120_000);
  if (!htoolsInstalled(t)) return;
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const rapid = await startRapid({
    redisUrl: redis.url,
    users: `${USER} ${PASSWORD} write\n`,
    env: { RAPID_NODE_NAME: NODE },
  });
  t.teardown(async () => {
    await rapid.stop();
  });
  const url = `https://${USER}:${PASSWORD}@127.0.0.1:${rapid.port}`;
  const anon = `https://127.0.0.1:${rapid.port}`;

  // ---- an empty cluster: nothing to complain about ----
  {
    const r = await tool(t, 'hcheck', ['-m', url, '--machine-readable']);
    const kv = keyValues(r.stdout);
    t.is(kv.HCHECK_OK, '1');
    t.is(kv.HCHECK_INIT_CLUSTER_NEED_REBALANCE, '0');
    t.is(kv.HCHECK_INIT_CLUSTER_GN1_FAIL, '0');
  }
  {
    const r = await tool(t, 'hroller', ['-m', url]);
    t.regex(r.stdout, /Node Reboot Groups/);
    t.regex(r.stdout, new RegExp(`^${NODE.replace(/\./g, '\\.')}$`, 'm'));
  }

  await createInstances(t, rapid);

  // ---- hinfo: counts, with credentials and anonymously ----
  const loaded = /^Loaded (\d+) nodes?, (\d+) instances?, (\d+) node groups?$/m;
  for (const target of [url, anon]) {
    const r = await tool(t, 'hinfo', ['-m', target, '-v']);
    const m = loaded.exec(r.stdout);
    t.truthy(m, `hinfo prints the "Loaded ..." line: ${r.stdout}`);
    t.deepEqual(m?.slice(1), ['1', '4', '1'], 'hinfo: 1 node, 4 instances, 1 node group');
    t.regex(r.stdout, /^ {3}default +1 +4 +0 +0 /m, 'hinfo group table: default, 1 node, 4 instances, no bad ones');
    t.regex(r.stdout, /^Cluster score: [0-9.]+$/m);
  }
  // A present but wrong password is refused even for reads.
  {
    const r = await runProgram('/usr/bin/hinfo', ['-m', `https://${USER}:wrong@127.0.0.1:${rapid.port}`]);
    t.not(r.code, 0, 'hinfo with a wrong password must fail');
    t.regex(r.stderr, /CurlHttpReturnedError/, `hinfo wrong password stderr: ${r.stderr}`);
    const res = await rapi(rapid, 'GET', '/2/groups?bulk=1', { user: USER, password: 'wrong' });
    t.is(res.status, 401, 'the request hinfo sends first, with a wrong password');
  }

  // ---- hbal: one node, nothing to move ----
  {
    const r = await tool(t, 'hbal', ['-m', url, '-G', 'default']);
    t.regex(r.stdout, /Loaded 1 nodes, 4 instances/);
    t.regex(r.stdout, /Selected node group: default/);
    t.regex(r.stdout, /Initial check done: 0 bad nodes, 0 bad instances\./);
    t.regex(r.stdout, /already well balanced|No solution found|Nothing to do/);
  }

  // ---- hspace: capacity in machine-readable form ----
  {
    const r = await tool(t, 'hspace', ['-m', url, '--machine-readable=yes']);
    const kv = keyValues(r.stdout);
    t.is(kv.HTS_OK, '1');
    t.is(kv.HTS_CLUSTER_NODES, '1');
    t.is(kv.HTS_INI_INST_CNT, '4');
    t.is(kv.HTS_INI_MEM_INST, String(4 * MEMORY), 'memory used by the instances');
    t.is(kv.HTS_INI_SCORE, '0.00000000');
    const node = (await rapi(rapid, 'GET', `/2/nodes/${NODE}`)).json;
    t.is(kv.HTS_CLUSTER_MEM, String(node.mtotal), 'cluster memory is the node mtotal');
    t.is(kv.HTS_CLUSTER_CPU, String(node.ctotal), 'cluster CPUs are the node ctotal');
    t.is(kv.HTS_SPEC_DISK_TEMPLATE, 'diskless', 'first ipolicy disk template');
    t.is(kv.HTS_SPEC_MEM, '128', 'ipolicy std memory-size');
  }

  // ---- hcheck: healthy except global N+1, which one node can never give ----
  {
    // With instances on the only node, global N+1 fails and hcheck exits 1
    // (it wants a rebalance it cannot find); --no-simulation exits 0.
    const sim = await tool(t, 'hcheck', ['-m', url, '--machine-readable'], 1);
    t.deepEqual(unexpectedStderr(sim.stderr), []);
    t.is(keyValues(sim.stdout).HCHECK_OK, '1');
    const r = await tool(t, 'hcheck', ['-m', url, '--machine-readable', '--no-simulation']);
    const kv = keyValues(r.stdout);
    t.is(kv.HCHECK_OK, '1');
    const groupUuid = (await rapi(rapid, 'GET', '/2/groups/default')).json.uuid;
    t.is(kv.HCHECK_GROUP_UUID_0, groupUuid);
    t.is(kv.HCHECK_INIT_CLUSTER_N1_FAIL, '0');
    t.is(kv.HCHECK_INIT_CLUSTER_CONFLICT_TAGS, '0');
    t.is(kv.HCHECK_INIT_CLUSTER_OFFLINE_PRI, '0');
    t.is(kv.HCHECK_INIT_CLUSTER_OFFLINE_SEC, '0');
    t.is(kv.HCHECK_INIT_CLUSTER_GN1_FAIL, '1');
  }

  // ---- hroller: the master is known; non-redundant instances pin the node ----
  {
    const r = await tool(t, 'hroller', ['-m', url, '--ignore-non-redundant']);
    t.regex(r.stdout, /Node Reboot Groups/);
    t.regex(r.stdout, new RegExp(`^${NODE.replace(/\./g, '\\.')}$`, 'm'));
    // Without it, the 4 diskless instances have nowhere to go: Ganeti's answer.
    const plain = await tool(t, 'hroller', ['-m', url], 1);
    t.regex(plain.stderr, /Not enough capacity to move non-redundant instances/);
  }
});
