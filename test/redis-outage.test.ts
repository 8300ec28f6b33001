// A Redis outage: config reads keep being served from the snapshot, job
// reads fail fast with a Ganeti-style 502 instead of hanging, and everything
// works again once Redis is back (AOF keeps the data).
import test from 'ava';
import { startRedis } from './helpers/redis.ts';
import { startRapid } from './helpers/rapid.ts';
import { rapi, waitForJob } from './helpers/http.ts';
import { USERS, WRITER, NODE } from './helpers/cluster.ts';

test('Redis goes away and comes back', async (t) => {
  t.timeout(90_000);
  const redis = await startRedis({ aof: true });
  t.teardown(() => redis.stop());
  const d = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_NODE_NAME: NODE } });
  t.teardown(() => d.stop());
  const before = (await rapi(d, 'PUT', '/2/tags?tag=before', WRITER)).json;
  await waitForJob(d, before, WRITER);

  await redis.stop();
  t.is((await rapi(d, 'GET', '/2/info')).status, 200, 'config reads come from memory');
  t.is((await rapi(d, 'GET', '/2/instances?bulk=1')).status, 200);
  const t0 = Date.now();
  const down = await rapi(d, 'GET', `/2/jobs/${before}`);
  t.true(Date.now() - t0 < 10_000, 'no hang');
  t.is(down.status, 502, down.text);
  t.deepEqual(Object.keys(down.json), ['code', 'message', 'explain']);
  const refused = await rapi(d, 'PUT', '/2/tags?tag=during', WRITER);
  t.is(refused.status, 502, 'a submission fails clearly instead of being lost silently');

  await redis.restart();
  let job;
  for (let i = 0; i < 100; i++) {
    job = await rapi(d, 'GET', `/2/jobs/${before}`);
    if (job.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(job!.json.status, 'success', 'the job record survived');
  const after = (await rapi(d, 'PUT', '/2/tags?tag=after', WRITER)).json;
  t.is((await waitForJob(d, after, WRITER, 30_000)).status, 'success', 'jobs run again');
  t.true(after > before);
  t.deepEqual((await rapi(d, 'GET', '/2/tags')).json.sort(), ['after', 'before']);
});
