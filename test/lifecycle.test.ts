// The daemon as a process: first start initialises, restarts keep everything,
// SIGTERM leaves no process behind, kill -9 never re-runs a job.
import test from 'ava';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { startRapid } from './helpers/rapid.ts';
import { startRedis } from './helpers/redis.ts';
import { rapi, waitForJob } from './helpers/http.ts';
import { tempDir } from './helpers/pids.ts';
import { USERS, WRITER, createBody } from './helpers/cluster.ts';
import { connect } from '../src/store/redis.ts';
import { JobStore } from '../jobs/store.ts';
import { JobQueue } from '../jobs/queue.ts';
import { fillOpcode } from '../jobs/opcodes.ts';

const alive = (pid: number) => {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return false;
  }
};

test('own redis: restart keeps cluster, instances, tags and jobs; SIGTERM leaves no process', async (t) => {
  t.timeout(90_000);
  const dataDir = tempDir('rapid-life-');
  const first = await startRapid({ dataDir, users: USERS });
  t.teardown(() => first.stop());
  t.regex(first.stdout(), /initialised cluster/);
  const info1 = (await rapi(first, 'GET', '/2/info')).json;
  const id = (await rapi(first, 'POST', '/2/instances', { ...WRITER, body: createBody('keep1', { disk_template: 'file', disks: [{ size: 1024 }] }) })).json;
  t.is((await waitForJob(first, id)).status, 'success');
  const tagJob = (await rapi(first, 'PUT', '/2/instances/keep1/tags?tag=kept', WRITER)).json;
  await waitForJob(first, tagJob);
  const redisPid = Number(fs.readFileSync(path.join(dataDir, 'redis', 'redis.pid'), 'utf8'));
  t.true(alive(redisPid));
  const daemonPid = first.proc.pid!;
  const workerPid = Number(fs.readdirSync(path.join(dataDir, '..')).length >= 0 && findChild(daemonPid, 'node-worker'));

  t.is(await first.stop(), 0, 'SIGTERM exits 0');
  t.false(alive(redisPid), 'the redis-server child is stopped');
  if (workerPid) t.false(alive(workerPid), 'the node worker is stopped');

  const second = await startRapid({ dataDir });
  t.teardown(() => second.stop());
  t.notRegex(second.stdout(), /initialised cluster/);
  t.notRegex(second.stdout(), /password/, 'an existing users file is never rewritten');
  t.is(fs.readFileSync(path.join(dataDir, 'users'), 'utf8'), USERS);
  const info2 = (await rapi(second, 'GET', '/2/info')).json;
  t.is(info2.uuid, info1.uuid);
  t.is(info2.ctime, info1.ctime);
  const inst = (await rapi(second, 'GET', '/2/instances/keep1')).json;
  t.deepEqual(inst.tags, ['kept']);
  t.is(inst.status, 'running', `the fake guest kept running across the restart: ${fs.readFileSync(path.join(dataDir, 'hv', 'fake-hv.json'), 'utf8')} ${JSON.stringify(inst)}`);
  t.is((await rapi(second, 'GET', `/2/jobs/${id}`)).json.status, 'success');
  const next = (await rapi(second, 'PUT', '/2/tags?tag=after', WRITER)).json;
  t.true(next > tagJob, 'job ids continue, never reused');
  // Remove the instance: its disk file goes with it.
  const disk = path.join(dataDir, 'storage', 'keep1');
  t.true(fs.existsSync(disk));
  t.is((await waitForJob(second, (await rapi(second, 'DELETE', '/2/instances/keep1', WRITER)).json)).status, 'success');
  t.false(fs.existsSync(disk));
});

function findChild(parent: number, fragment: string): number {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.split(') ')[1].split(' ')[1]);
      if (ppid === parent && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(fragment)) return Number(p);
    } catch { /* gone */ }
  }
  return 0;
}

test('job ids survive a Redis that lost its data (on-disk floor)', async (t) => {
  t.timeout(60_000);
  const dataDir = tempDir('rapid-floor-');
  const first = await startRapid({ dataDir, users: USERS });
  const a = (await rapi(first, 'PUT', '/2/tags?tag=one', WRITER)).json;
  await waitForJob(first, a);
  t.is(await first.stop(), 0);
  // Simulate losing Redis's data: remove its files.
  fs.rmSync(path.join(dataDir, 'redis'), { recursive: true, force: true });
  const second = await startRapid({ dataDir });
  t.teardown(() => second.stop());
  for (let i = 0; i < 40 && !/Redis lost data/.test(second.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
  t.regex(second.stderr(), /Redis lost data/);
  const b = (await rapi(second, 'PUT', '/2/tags?tag=two', WRITER)).json;
  t.true(b > a, `new id ${b} > old id ${a}`);
});

test('kill -9 while a job runs: the job ends in error after restart and is never re-run', async (t) => {
  t.timeout(90_000);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const env = { RAPID_RECONCILE_INTERVAL: '1', RAPID_NODE_NAME: 'node1' };
  const dataDir = tempDir('rapid-kill-');
  const first = await startRapid({ dataDir, redisUrl: redis.url, users: USERS, env });
  const conn = connect(redis.url);
  const jobs = new JobStore(conn);
  const queue = new JobQueue(conn, jobs);
  t.teardown(async () => { await queue.close(); conn.disconnect(); });
  // Tags first, then a long delay: the tag opcode succeeds, the delay is interrupted.
  const id = await queue.submit([fillOpcode('OP_TAGS_SET', { kind: 'cluster', tags: ['before-crash'] }), fillOpcode('OP_TEST_DELAY', { duration: 30 })]);
  for (let i = 0; i < 100 && (await jobs.get(id))?.opstatus[1] !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
  t.is((await jobs.get(id))?.opstatus[1], 'running');
  await first.kill9();

  const second = await startRapid({ dataDir, redisUrl: redis.url, env });
  t.teardown(() => second.stop());
  const job = await waitForJob(second, id, WRITER, 45_000);
  t.is(job.status, 'error', JSON.stringify(job));
  t.deepEqual(job.opstatus, ['success', 'error']);
  t.regex(job.opresult[1][1][0], /not restarted/);
  t.deepEqual((await rapi(second, 'GET', '/2/tags')).json, ['before-crash']);
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await rapi(second, 'GET', `/2/jobs/${id}`)).json.status, 'error', 'still failed: it was not re-run');
});

test('finished jobs are archived after the retention time and deleted beyond the cap', async (t) => {
  t.timeout(60_000);
  const dataDir = tempDir('rapid-archive-');
  const d = await startRapid({ dataDir, users: USERS, env: { RAPID_JOB_RETENTION: '1', RAPID_RECONCILE_INTERVAL: '1', RAPID_ARCHIVE_MAX: '2' } });
  t.teardown(() => d.stop());
  const ids: number[] = [];
  for (const tag of ['a1', 'a2', 'a3', 'a4']) {
    const id = (await rapi(d, 'PUT', `/2/tags?tag=${tag}`, WRITER)).json;
    await waitForJob(d, id);
    ids.push(id);
  }
  const listed = async () => (await rapi(d, 'GET', '/2/jobs')).json.map((j: { id: number }) => j.id);
  for (let i = 0; i < 60 && (await listed()).some((id: number) => ids.includes(id)); i++) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual((await listed()).filter((id: number) => ids.includes(id)), [], 'archived jobs leave /2/jobs');
  const newest = (await rapi(d, 'GET', `/2/jobs/${ids[3]}`)).json;
  t.is(newest.status, 'success', 'an archived job stays readable by id');
  t.is((await rapi(d, 'GET', `/2/jobs/${ids[0]}?strict=1`)).status, 404, 'beyond the cap the oldest are deleted');
});

test('SIGHUP reloads the users file', async (t) => {
  t.timeout(30_000);
  const d = await startRapid({ users: USERS });
  t.teardown(() => d.stop());
  t.is((await rapi(d, 'PUT', '/2/tags?tag=x', { user: 'late', password: 'pw' })).status, 401);
  fs.writeFileSync(path.join(d.dataDir, 'users'), `${USERS}late {HA1}${createHash('md5').update('late:Ganeti Remote API:pw').digest('hex')} write\n`);
  d.proc.kill('SIGHUP');
  for (let i = 0; i < 50 && !/reloaded users/.test(d.stdout()); i++) await new Promise((r) => setTimeout(r, 50));
  t.is((await rapi(d, 'PUT', '/2/tags?tag=x', { user: 'late', password: 'pw' })).status, 200);
});

test('kill -9 of the executor process: the running job fails, queued jobs run on the restarted executor', async (t) => {
  t.timeout(90_000);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const d = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_RECONCILE_INTERVAL: '1', RAPID_JOB_CONCURRENCY: '1' } });
  t.teardown(() => d.stop());
  const conn = connect(redis.url);
  const jobs = new JobStore(conn);
  const queue = new JobQueue(conn, jobs);
  t.teardown(async () => { await queue.close(); conn.disconnect(); });
  const running = await queue.submit([fillOpcode('OP_TEST_DELAY', { duration: 30 })]);
  for (let i = 0; i < 100 && (await jobs.get(running))?.opstatus[0] !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
  const queued = (await rapi(d, 'PUT', '/2/tags?tag=survivor', WRITER)).json;
  t.is((await rapi(d, 'GET', `/2/jobs/${queued}`)).json.status, 'queued', 'one executor slot: the tag job waits its turn');
  const executor = findChild(d.proc.pid!, 'executor-main');
  t.true(executor > 0);
  process.kill(executor, 'SIGKILL');
  const failed = await waitForJob(d, running, WRITER, 45_000);
  t.is(failed.status, 'error');
  t.regex(failed.opresult[0][1][0], /not restarted/);
  const survived = await waitForJob(d, queued, WRITER, 45_000);
  t.is(survived.status, 'success');
  t.deepEqual((await rapi(d, 'GET', '/2/tags')).json, ['survivor']);
  t.regex(d.stderr(), /executor-0 exited .*restarting/);
});
