// Job semantics end to end: lifecycle fields, late (run-time) errors with
// Ganeti's classes and ecodes, lock waits, cancel and the /wait long-poll.
import test from 'ava';
import { startCluster, createBody, WRITER, NODE, type TestCluster } from './helpers/cluster.ts';
import { rapi, waitForJob } from './helpers/http.ts';

let c: TestCluster;
test.before(async () => {
  // Three executor slots, so one test can have jobs running, lock-waiting and queued at once.
  c = await startCluster({ RAPID_JOB_CONCURRENCY: '3' });
  const job = await c.job('POST', '/2/instances', { body: createBody('web1') });
  if (job.status !== 'success') throw new Error(`fixture: ${JSON.stringify(job)}`);
});
test.after.always(async () => { await c?.stop(); });

const waitStatus = async (id: number, status: string, ms = 10_000) => {
  const end = Date.now() + ms;
  for (;;) {
    const j = (await rapi(c.rapid, 'GET', `/2/jobs/${id}`)).json;
    if (j.status === status) return j;
    if (Date.now() > end) throw new Error(`job ${id} is ${j.status}, not ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test.serial('a successful job carries Ganeti\'s fields', async (t) => {
  const res = await c.w('PUT', '/2/instances/web1/tags?tag=blue&reason=because');
  t.is(res.status, 200);
  t.regex(res.text, /^\d+\n$/, 'a job id is a bare JSON number');
  const job = await waitForJob(c.rapid, res.json);
  t.deepEqual(Object.keys(job), ['id', 'ops', 'status', 'summary', 'opstatus', 'received_ts', 'start_ts', 'end_ts', 'oplog', 'opresult']);
  t.is(job.id, res.json);
  t.is(job.status, 'success');
  t.deepEqual(job.opstatus, ['success']);
  t.deepEqual(job.opresult, [null]);
  t.deepEqual(job.summary, ['TAGS_SET']);
  t.is(job.ops[0].OP_ID, 'OP_TAGS_SET');
  t.deepEqual(job.ops[0].reason.map((r: unknown[]) => r.slice(0, 2)), [['gnt:user', 'because'], ['gnt:library:rlib2:instances_name_tags', ''], ['rapid:user', 'admin']]);
  for (const ts of [job.received_ts, job.start_ts, job.end_ts]) {
    t.true(Array.isArray(ts) && ts.length === 2 && Number.isInteger(ts[0]) && Number.isInteger(ts[1]) && ts[1] < 1e6);
  }
  t.true(job.end_ts[0] * 1e6 + job.end_ts[1] >= job.start_ts[0] * 1e6 + job.start_ts[1]);
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/instances/web1/tags')).json, ['blue']);
  const bulk = (await rapi(c.rapid, 'GET', '/2/jobs?bulk=1')).json;
  const mine = bulk.find((j: { id: number }) => j.id === job.id);
  t.deepEqual(Object.keys(mine), ['id', 'ops', 'status', 'summary', 'opstatus', 'received_ts', 'start_ts', 'end_ts']);
  t.true((await rapi(c.rapid, 'GET', '/2/jobs')).json.some((j: { id: number; uri: string }) => j.id === job.id && j.uri === `/2/jobs/${job.id}`));
});

test.serial('run-time errors end the job with Ganeti\'s class and ecode', async (t) => {
  const dup = await c.job('POST', '/2/instances', { body: createBody('web1') });
  t.is(dup.status, 'error');
  t.deepEqual(dup.opstatus, ['error']);
  t.deepEqual(dup.opresult, [['OpPrereqError', ["Instance 'web1' is already in the cluster", 'already_exists']]]);

  const missing = await c.job('PUT', '/2/instances/ghost/tags?tag=x');
  t.deepEqual(missing.opresult, [['OpPrereqError', ["Instance 'ghost' not known", 'unknown_entity']]]);

  const badTag = await c.job('PUT', '/2/instances/web1/tags?tag=has%20space');
  t.deepEqual(badTag.opresult, [['TagError', ['Tag contains invalid characters']]]);
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/instances/web1/tags')).json, ['blue'], 'a failed job changes nothing');

  const noOs = await c.job('POST', '/2/instances', { body: createBody('web2', { os: 'nosuchos' }) });
  t.is(noOs.status, 'error');
  t.is(noOs.opresult[0][0], 'OpExecError');
  t.regex(noOs.opresult[0][1][0], /Directory for OS nosuchos not found/);
  t.is((await rapi(c.rapid, 'GET', '/2/instances/web2')).status, 404, 'nothing half-created');

  const badNode = await c.job('POST', '/2/instances', { body: createBody('web3', { pnode: 'nonode' }) });
  t.deepEqual(badNode.opresult, [['OpPrereqError', ["Node 'nonode' not known", 'unknown_entity']]]);

  const delMissing = await c.job('DELETE', '/2/instances/web1/tags?tag=nothere');
  t.deepEqual(delMissing.opresult, [['OpPrereqError', ["Tag(s) 'nothere' not found", 'unknown_entity']]]);
});

test.serial('multi-opcode jobs: later opcodes fail with "Preceding opcode failed"', async (t) => {
  // The instance runs, so reinstall's shutdown succeeds; reinstall then fails on a missing OS.
  const job = await c.job('POST', '/2/instances/web1/reinstall', { body: { os: 'nosuchos', start: true } });
  t.deepEqual(job.opstatus, ["success", "error", "error"], JSON.stringify(job.opresult));
  t.deepEqual(job.opresult[2], ['OpExecError', ['Preceding opcode failed']]);
  t.is(job.status, 'error');
  const start = await c.job('PUT', '/2/instances/web1/startup');
  t.is(start.status, 'success');
});

test.serial('conflicting jobs wait for locks; queued and waiting jobs cancel, running ones do not', async (t) => {
  // A holds the node lock for a while; B (startup of an instance on that node) must wait for it.
  const a = await c.submitDirect('OP_TEST_DELAY', { duration: 1.5, on_master: false, on_nodes: [NODE], no_locks: false });
  await waitStatus(a, 'running');
  const b = (await c.w('PUT', '/2/instances/web1/startup')).json;
  await waitStatus(b, 'waiting');
  // A third slot runs C; D then finds no free executor slot and stays queued.
  const cJob = await c.submitDirect('OP_TEST_DELAY', { duration: 1.5, on_master: true });
  await waitStatus(cJob, 'running');
  const d = await c.submitDirect('OP_TEST_DELAY', { duration: 0, on_master: true });
  await new Promise((r) => setTimeout(r, 200));
  t.is((await rapi(c.rapid, 'GET', `/2/jobs/${d}`)).json.status, 'queued');

  t.deepEqual((await c.w('DELETE', `/2/jobs/${d}`)).json, [true, `Dequeued job ${d}`]);
  t.deepEqual((await c.w('DELETE', `/2/jobs/${b}`)).json, [true, `Dequeued job ${b}`]);
  const running = await c.w('DELETE', `/2/jobs/${a}`);
  t.is(running.status, 200);
  t.is(running.json[0], false);

  const canceled = await waitForJob(c.rapid, b);
  t.is(canceled.status, 'canceled');
  t.deepEqual(canceled.opstatus, ['canceled']);
  t.deepEqual(canceled.opresult, [null]);
  t.truthy(canceled.end_ts);
  t.is((await waitForJob(c.rapid, d)).status, 'canceled');
  t.is((await waitForJob(c.rapid, a)).status, 'success');
  t.is((await waitForJob(c.rapid, cJob)).status, 'success');
  // The canceled jobs never ran: still canceled a moment later.
  await new Promise((r) => setTimeout(r, 300));
  t.is((await rapi(c.rapid, 'GET', `/2/jobs/${b}`)).json.status, 'canceled');
  t.deepEqual((await c.w('DELETE', `/2/jobs/${a}`)).json, [false, `Job ${a} not found in queue`]);
  t.deepEqual((await c.w('DELETE', '/2/jobs/999999')).json, [false, 'Job 999999 not found in queue']);
});

test.serial('a failing opcode: OP_TEST_DELAY with a negative duration', async (t) => {
  const id = await c.submitDirect('OP_TEST_DELAY', { duration: -1 });
  const job = await waitForJob(c.rapid, id);
  t.is(job.status, 'error');
  t.is(job.opresult[0][0], 'OpExecError');
});

test.serial('/wait answers on change, at once when finished, and after the timeout otherwise', async (t) => {
  const id = await c.submitDirect('OP_TEST_DELAY', { duration: 1, on_master: true, repeat: 1 });
  const body = { fields: ['status'], previous_job_info: null, previous_log_serial: null };
  const first = await c.w('GET', `/2/jobs/${id}/wait`, { body });
  t.is(first.status, 200);
  t.deepEqual(Object.keys(first.json), ['job_info', 'log_entries']);
  // Follow the job as the official client does until it is final.
  let info = first.json.job_info;
  let serial: number | null = null;
  const seen: string[] = [info[0]];
  for (let i = 0; i < 20 && !['success', 'error', 'canceled'].includes(info[0]); i++) {
    const r = await c.w('GET', `/2/jobs/${id}/wait`, { body: { fields: ['status'], previous_job_info: info, previous_log_serial: serial } });
    info = r.json.job_info;
    for (const e of r.json.log_entries) {
      t.true(e.length === 4 && Number.isInteger(e[0]) && e[2] === 'message');
      serial = e[0];
    }
    seen.push(info[0]);
  }
  t.is(info[0], 'success');
  t.true(serial !== null && serial >= 1, 'log entries arrive through /wait');
  const t0 = Date.now();
  const done = await c.w('GET', `/2/jobs/${id}/wait`, { body: { fields: ['status', 'id'], previous_job_info: ['success', id], previous_log_serial: serial } });
  t.true(Date.now() - t0 < 1000, 'a finished job answers at once');
  t.deepEqual(done.json, { job_info: ['success', id], log_entries: [] });

  // A job that does not change answers after RAPID_WAIT_TIMEOUT (2 s in tests) with the same info.
  const slow = await c.submitDirect('OP_TEST_DELAY', { duration: 3, on_master: true });
  await waitStatus(slow, 'running');
  const t1 = Date.now();
  const unchanged = await c.w('GET', `/2/jobs/${slow}/wait`, { body: { fields: ['status'], previous_job_info: ['running'], previous_log_serial: 0 } });
  t.true(Date.now() - t1 >= 1500);
  t.deepEqual(unchanged.json, { job_info: ['running'], log_entries: [] });
  // …and wakes up as soon as the job finishes.
  const woke = await c.w('GET', `/2/jobs/${slow}/wait`, { body: { fields: ['status'], previous_job_info: ['running'], previous_log_serial: 0 } });
  t.is(woke.json.job_info[0], 'success');

  t.is((await c.w('GET', '/2/jobs/999999/wait', { body })).status, 404);
  const noBody = await c.w('GET', `/2/jobs/${id}/wait`);
  t.is(noBody.status, 400);
  t.is((await c.w('GET', `/2/jobs/${id}/wait`, { body: { fields: 'status' } })).json.message, 'The &#x27;fields&#x27; parameter should be a list');
  t.is((await rapi(c.rapid, 'GET', `/2/jobs/${id}/wait`, { body })).status, 401, '/wait needs write access');
});

test.serial('unknown job ids answer nulls as Ganeti 3.0.2; ?strict=1 gives 404', async (t) => {
  const r = await rapi(c.rapid, 'GET', '/2/jobs/987654');
  t.is(r.status, 200);
  t.true(Object.values(r.json).every((v) => v === null));
  t.is((await rapi(c.rapid, 'GET', '/2/jobs/987654?strict=1')).status, 404);
  t.is((await rapi(c.rapid, 'GET', '/2/jobs/abc')).status, 404);
});

test.serial('job ids are never reused and increase', async (t) => {
  const a = (await c.w('PUT', '/2/tags?tag=x1')).json;
  const b = (await c.w('PUT', '/2/tags?tag=x2')).json;
  t.true(b > a);
  await waitForJob(c.rapid, b, WRITER);
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/tags')).json.sort(), ['x1', 'x2']);
});

test.serial('the fake hypervisor keeps real state: memory in use shows in the node\'s mfree', async (t) => {
  const mfree = async () => (await rapi(c.rapid, 'GET', `/2/nodes/${NODE}`)).json.mfree as number;
  const before = await mfree();
  const job = await c.job('POST', '/2/instances', { body: createBody('big1', { beparams: { memory: '4G' } }) });
  t.is(job.status, 'success');
  const inst = (await rapi(c.rapid, 'GET', '/2/instances/big1')).json;
  t.is(inst.oper_ram, 4096);
  t.is(inst.beparams.maxmem, 4096);
  const during = await mfree();
  t.true(before - during > 3000, `mfree ${before} → ${during} after starting a 4 GiB instance`);
  t.is((await c.job('PUT', '/2/instances/big1/shutdown')).status, 'success');
  const after = await mfree();
  t.true(after - during > 3000, `mfree ${during} → ${after} after stopping it`);
  t.is((await rapi(c.rapid, 'GET', '/2/instances/big1')).json.oper_ram, null);
  t.is((await c.job('DELETE', '/2/instances/big1')).status, 'success');
});

test.serial('depends: a job waits for the jobs it names, and fails or cancels as Ganeti does', async (t) => {
  const a = await c.submitDirect('OP_TEST_DELAY', { duration: 1, on_master: true });
  const b = (await c.w('PUT', '/2/instances/web1/tags?tag=after-a', { body: { depends: [[a, ['success']]] } })).json;
  await waitStatus(b, 'waiting');
  const jb = await waitForJob(c.rapid, b);
  const ja = await waitForJob(c.rapid, a);
  t.is(jb.status, 'success');
  t.deepEqual(jb.ops[0].depends, [[a, ['success']]]);
  t.true(jb.end_ts[0] * 1e6 + jb.end_ts[1] >= ja.end_ts[0] * 1e6 + ja.end_ts[1], 'B finished after A');

  const failing = await c.submitDirect('OP_TEST_DELAY', { duration: -1 });
  await waitForJob(c.rapid, failing);
  const wrong = await c.job('PUT', '/2/instances/web1/tags?tag=never', { body: { depends: [[failing, ['success']]] } });
  t.deepEqual(wrong.opresult, [['OpExecError', [`Dependency job ${failing} finished with status 'error', not one of 'success' as required`]]]);

  const anyStatus = await c.job('PUT', '/2/instances/web1/tags?tag=whatever', { body: { depends: [[failing, []]] } });
  t.is(anyStatus.status, 'success', 'an empty status list accepts any final status');

  const canceledDep = await c.submitDirect('OP_TEST_DELAY', { duration: 5, on_master: true, depends: [[999_999_999, []]] });
  const lost = await waitForJob(c.rapid, canceledDep);
  t.deepEqual(lost.opresult[0], ['OpExecError', ['Dependency error: Job 999999999 not found']]);

  // Relative ids count back from the job itself.
  const prev = (await c.w('PUT', '/2/tags?tag=rel1')).json;
  const rel = (await c.w('PUT', '/2/tags?tag=rel2', { body: { depends: [[-1, ['success']]] } })).json;
  const jr = await waitForJob(c.rapid, rel);
  t.is(rel, prev + 1);
  t.deepEqual(jr.ops[0].depends, [[prev, ['success']]]);
  t.is(jr.status, 'success');
});
