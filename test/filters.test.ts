// Job filter rules (/2/filters): REJECT, PAUSE, ACCEPT ordering, RATE_LIMIT,
// predicates on job id, opcodes and reason trail; bad rules are 400s.
import test from 'ava';
import { startCluster, createBody, READER, type TestCluster } from './helpers/cluster.ts';
import { rapi, waitForJob } from './helpers/http.ts';

let c: TestCluster;
test.before(async () => {
  c = await startCluster({ RAPID_JOB_CONCURRENCY: '8' });
  if ((await c.job('POST', '/2/instances', { body: createBody('f1') })).status !== 'success') throw new Error('fixture');
});
test.after.always(async () => { await c?.stop(); });

const status = async (id: number) => (await rapi(c.rapid, 'GET', `/2/jobs/${id}`)).json.status as string;
const addRule = async (rule: unknown) => {
  const r = await c.w('POST', '/2/filters', { body: rule });
  if (r.status !== 200) throw new Error(r.text);
  return r.json as string;
};
const delRule = async (uuid: string) => (await c.w('DELETE', `/2/filters/${uuid}`)).json;

test.serial('rules are listed, read and replaced as Ganeti does', async (t) => {
  const before = Number((await rapi(c.rapid, 'GET', '/2/jobs')).json.at(-1)?.id ?? 0);
  const uuid = await addRule({ priority: 5, predicates: [['opcode', ['=', 'OP_ID', 'OP_INSTANCE_REBOOT']]], action: 'CONTINUE', reason: [['me', 'doc', 1]] });
  t.regex(uuid, /^[0-9a-f-]{36}$/);
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/filters')).json, [{ uuid, uri: `/2/filters/${uuid}` }]);
  const one = (await rapi(c.rapid, 'GET', `/2/filters/${uuid}`)).json;
  t.deepEqual(Object.keys(one), ['watermark', 'priority', 'predicates', 'action', 'reason_trail', 'uuid']);
  t.true(one.watermark >= before);
  t.is(one.priority, 5);
  const same = await c.w('PUT', `/2/filters/${uuid}`, { body: { priority: 7, action: 'ACCEPT' } });
  t.is(same.json, uuid);
  t.is((await rapi(c.rapid, 'GET', `/2/filters/${uuid}`)).json.priority, 7);
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/filters?bulk=1')).json.map((r: { uuid: string }) => r.uuid), [uuid]);
  const q = await rapi(c.rapid, 'GET', '/2/query/filter?fields=uuid,priority', READER);
  t.deepEqual(q.json.data, [[[0, uuid], [0, 7]]]);
  t.is(await delRule(uuid), null);
  t.is((await rapi(c.rapid, 'GET', `/2/filters/${uuid}`)).status, 404);
  t.is((await c.w('DELETE', `/2/filters/${uuid}`)).status, 404);
});

test.serial('bad rules are refused with 400 and change nothing', async (t) => {
  const bad: [unknown, RegExp][] = [
    [[1], /not a dictionary/],
    [{ colour: 1 }, /doesn&#x27;t support the parameter &#x27;colour&#x27;/],
    [{ priority: 'high' }, /&#x27;priority&#x27; parameter: Type is &#x27;str&#x27;, but &#x27;int&#x27; is expected/],
    [{ predicates: 'x' }, /predicates/],
    [{ action: 'EXPLODE' }, /Invalid filter action/],
    [{ action: ['RATE_LIMIT', 0] }, /Invalid filter action/],
    [{ predicates: [['weather', ['=', 'id', 1]]] }, /Unknown filter predicate/],
    [{ predicates: [['jobid', ['~~', 'id', 1]]] }, /Unknown operator/],
    [{ predicates: [['jobid', ['=', 'size', 1]]] }, /Unknown field/],
    [{ priority: -1 }, /non-negative/],
  ];
  for (const [body, message] of bad) {
    const r = await c.w('POST', '/2/filters', { body });
    t.is(r.status, 400, JSON.stringify(body));
    t.regex(r.json.message, message);
  }
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/filters')).json, []);
  t.is((await rapi(c.rapid, 'POST', '/2/filters', { ...READER, body: {} })).status, 403);
});

test.serial('REJECT cancels matching jobs; other jobs run', async (t) => {
  const uuid = await addRule({ predicates: [['opcode', ['=', 'OP_ID', 'OP_INSTANCE_REBOOT']]], action: 'REJECT' });
  const rejected = await c.job('POST', '/2/instances/f1/reboot');
  t.is(rejected.status, 'canceled');
  t.regex(rejected.oplog[0][0][3], new RegExp(`rejected by filter rule ${uuid}`));
  t.is((await c.job('PUT', '/2/instances/f1/tags?tag=ok')).status, 'success');
  await delRule(uuid);
  t.is((await c.job('POST', '/2/instances/f1/reboot')).status, 'success');
});

test.serial('PAUSE holds new jobs (jobid > watermark) until the rule goes; ACCEPT by reason wins by priority', async (t) => {
  const pause = await addRule({ priority: 1, predicates: [['jobid', ['>', 'id', 'watermark']]], action: 'PAUSE' });
  const accept = await addRule({ priority: 0, predicates: [['reason', ['=~', 'reason', 'maintenance pink bunny']]], action: 'ACCEPT' });
  const held = (await c.w('PUT', '/2/tags?tag=held')).json;
  const vip = (await c.w('PUT', '/2/tags?tag=vip&reason=maintenance%20pink%20bunny')).json;
  t.is((await waitForJob(c.rapid, vip)).status, 'success', 'the maintenance job passes');
  await new Promise((r) => setTimeout(r, 600));
  t.is(await status(held), 'queued', 'the paused job stays queued');
  t.deepEqual((await c.w('DELETE', `/2/jobs/${held}`)).json[0], true, 'a paused job can be canceled');
  const held2 = (await c.w('PUT', '/2/tags?tag=held2')).json;
  await new Promise((r) => setTimeout(r, 400));
  t.is(await status(held2), 'queued');
  await delRule(pause);
  await delRule(accept);
  t.is((await waitForJob(c.rapid, held2)).status, 'success', 'it runs once the rule is gone');
});

test.serial('RATE_LIMIT n: at most n matching jobs run at once', async (t) => {
  const uuid = await addRule({ predicates: [['opcode', ['=', 'OP_ID', 'OP_TEST_DELAY']]], action: ['RATE_LIMIT', 2] });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(await c.submitDirect('OP_TEST_DELAY', { duration: 0.6, on_master: true }));
  let maxRunning = 0;
  for (let i = 0; i < 60; i++) {
    const st = await Promise.all(ids.map(status));
    maxRunning = Math.max(maxRunning, st.filter((s) => s === 'running').length);
    if (st.every((s) => s === 'success')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.is(maxRunning, 2);
  for (const id of ids) t.is((await waitForJob(c.rapid, id)).status, 'success');
  await delRule(uuid);
});
