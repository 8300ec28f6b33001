// The test infrastructure itself: private redis servers and the PID-file
// reaper in scripts/test.sh, which every other test relies on to leave no
// process behind.
import test from 'ava';
import { Redis } from 'ioredis';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pidAlive, pidDir, repoRoot, tempDir, waitExit } from './helpers/pids.ts';
import { startRedis, type RedisProc } from './helpers/redis.ts';

const pidFileOf = (pid: number) => path.join(pidDir, `test-${pid}.pid`);

async function withClient<T>(r: RedisProc, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis(r.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

test('startRedis gives a private, recorded redis on loopback', async (t) => {
  const r = await startRedis();
  try {
    t.regex(r.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    t.true(pidAlive(r.pid));
    t.regex(fs.readFileSync(pidFileOf(r.pid), 'utf8'), new RegExp(`^${r.pid} redis-server owner=${process.pid}\\n$`));
    const info = await withClient(r, async (c) => {
      t.is(await c.ping(), 'PONG');
      await c.set('k', 'v');
      t.is(await c.get('k'), 'v');
      return (await c.info('persistence')) + (await c.config('GET', 'maxmemory-policy')).join(' ');
    });
    t.regex(info, /aof_enabled:0/);
    t.regex(info, /noeviction/);
  } finally {
    await r.stop();
  }
});

test('stop leaves no process and no PID file', async (t) => {
  const r = await startRedis();
  const pid = r.pid;
  await r.stop();
  t.false(pidAlive(pid));
  t.false(fs.existsSync(pidFileOf(pid)));
});

test('kill9 leaves no process and no PID file', async (t) => {
  const r = await startRedis();
  const pid = r.pid;
  await r.kill9();
  t.false(pidAlive(pid));
  t.false(fs.existsSync(pidFileOf(pid)));
});

test('data survives stop/restart with aof, on the same port and dir', async (t) => {
  const r = await startRedis({ aof: true });
  try {
    const { port, dir } = r;
    await withClient(r, (c) => c.set('survivor', 'yes'));
    const first = r.pid;
    await r.restart();
    t.not(r.pid, first);
    t.false(pidAlive(first));
    t.is(r.port, port);
    t.is(r.dir, dir);
    t.is(await withClient(r, (c) => c.get('survivor')), 'yes');
  } finally {
    await r.stop();
  }
});

test('data survives kill9/restart with aof', async (t) => {
  const r = await startRedis({ aof: true });
  try {
    await withClient(r, (c) => c.set('crash', 'proof'));
    await r.kill9();
    await r.restart();
    t.is(await withClient(r, (c) => c.get('crash')), 'proof');
  } finally {
    await r.stop();
  }
});

test('without aof, a restart starts empty', async (t) => {
  const r = await startRedis();
  try {
    await withClient(r, (c) => c.set('gone', '1'));
    await r.restart();
    t.is(await withClient(r, (c) => c.get('gone')), null);
  } finally {
    await r.stop();
  }
});

/** Until the (possibly zombie) process is gone; this worker reaps its children asynchronously. */
async function exits(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !pidAlive(pid);
}

// The reaper runs on its own PID directory here, so it cannot touch the
// processes of tests running alongside.
test('test.sh --reap-only kills orphans only', async (t) => {
  const dir = tempDir('rapid-pids-');
  const reap = () =>
    promisify(execFile)('bash', [path.join(repoRoot, 'scripts/test.sh'), '--reap-only'], {
      env: { ...process.env, RAPID_PID_DIR: dir },
    });
  // An owner that is certainly dead: a process that has already exited.
  const gone = spawn('true');
  await waitExit(gone);
  const deadOwner = gone.pid!;

  const orphan = await startRedis(); // owner gone: must be reaped
  const mine = await startRedis(); // owner alive (this worker): must be kept
  const sleeper = spawn('sleep', ['30']); // fragment mismatch: never signalled
  try {
    fs.writeFileSync(path.join(dir, 'orphan'), `${orphan.pid} redis-server owner=${deadOwner}\n`);
    fs.writeFileSync(path.join(dir, 'noowner'), `${orphan.pid} redis-server\n`);
    fs.writeFileSync(path.join(dir, 'mine'), `${mine.pid} redis-server owner=${process.pid}\n`);
    fs.writeFileSync(path.join(dir, 'recycled'), `${sleeper.pid} redis-server\n`);
    fs.writeFileSync(path.join(dir, 'vanished'), `${deadOwner} redis-server\n`);
    fs.writeFileSync(path.join(dir, 'garbage'), `not a pid\n`);

    await reap();

    t.true(await exits(orphan.pid), 'orphan reaped');
    t.true(pidAlive(mine.pid), 'live owner kept');
    t.true(pidAlive(sleeper.pid!), 'mismatched cmdline not signalled');
    t.deepEqual(fs.readdirSync(dir).sort(), ['mine']);
  } finally {
    sleeper.kill();
    await orphan.stop();
    await mine.stop();
  }
});
