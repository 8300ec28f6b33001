// Several stateless RAPI daemons on one Redis: a job submitted to one is run
// by whichever executor takes it, and every daemon serves the result.
import test from 'ava';
import { startRedis } from './helpers/redis.ts';
import { startRapid } from './helpers/rapid.ts';
import { rapi, waitForJob } from './helpers/http.ts';
import { USERS, WRITER, NODE, createBody } from './helpers/cluster.ts';

test('two daemons share one cluster: writes on one are read on the other', async (t) => {
  t.timeout(60_000);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const a = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_NODE_NAME: NODE } });
  t.teardown(() => a.stop());
  // The second daemon serves the same cluster; the node's worker already runs under the first.
  const b = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_NODE_NAME: NODE, RAPID_LOCAL_WORKER: '0' } });
  t.teardown(() => b.stop());
  t.notRegex(b.stdout(), /initialised cluster/, 'the second daemon joins the existing cluster');
  t.is((await rapi(b, 'GET', '/2/info')).json.uuid, (await rapi(a, 'GET', '/2/info')).json.uuid);

  const id = (await rapi(a, 'POST', '/2/instances', { ...WRITER, body: createBody('shared1') })).json;
  t.is((await waitForJob(b, id, WRITER)).status, 'success', 'the job is visible on the other daemon');
  t.is((await rapi(b, 'GET', '/2/instances/shared1')).json.status, 'running', 'and so is its result');

  // Many tag jobs through both daemons: ids never collide, every job runs once.
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    rapi(i % 2 ? a : b, 'PUT', `/2/instances/shared1/tags?tag=t${i}`, WRITER).then((r) => r.json as number)));
  t.is(new Set(ids).size, 20);
  for (const j of ids) t.is((await waitForJob(a, j, WRITER)).status, 'success');
  const tags = (await rapi(a, 'GET', '/2/instances/shared1/tags')).json as string[];
  t.deepEqual(tags.sort(), Array.from({ length: 20 }, (_, i) => `t${i}`).sort());
});
