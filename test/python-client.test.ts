// Ganeti's official RAPI client (Debian python3-ganeti-rapi, pycurl over
// GnuTLS) driven through a whole instance lifecycle against the real daemon:
// test/python/client_flow.py does the calls and assertions, this test starts
// rapid for it and checks that the script exits 0.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, tempDir } from './helpers/pids.ts';
import { caFile } from './helpers/http.ts';
import { runProgram, type Run } from './helpers/run.ts';
import { startRapid } from './helpers/rapid.ts';
import { startRedis } from './helpers/redis.ts';

// The system interpreter: the default python3 (pyenv) cannot see dist-packages.
const PYTHON = '/usr/bin/python3';
const FLOW = path.join(repoRoot, 'test', 'python', 'client_flow.py');
const NODE = 'node1.example.com';
const USER = 'flowadmin';
const PASSWORD = 'flow-secret';

const runPython = (args: string[], timeoutMs: number): Promise<Run> => runProgram(PYTHON, [FLOW, ...args], timeoutMs);

test('official Python RAPI client: full flow with a pinned CA and host name check', async (t) => {
  t.timeout(120_000);
  if (!fs.existsSync('/usr/lib/python3/dist-packages/ganeti/rapi/client.py')) {
    t.fail('python3-ganeti-rapi is not installed (/usr/lib/python3/dist-packages/ganeti/rapi/client.py)');
    return;
  }
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const rapid = await startRapid({
    redisUrl: redis.url,
    users: `${USER} ${PASSWORD} write\nreader reader-secret\n`,
    env: { RAPID_NODE_NAME: NODE },
  });
  t.teardown(async () => {
    await rapid.stop();
  });

  const cafile = caFile(rapid.ca, tempDir('rapid-pyclient-'));

  const run = await runPython(['127.0.0.1', String(rapid.port), USER, PASSWORD, cafile, NODE], 110_000);
  t.log(run.out.trimEnd());
  if (run.code !== 0) t.log(`--- rapid stderr ---\n${rapid.stderr()}`);
  t.is(run.code, 0, `client_flow.py exited ${run.code ?? run.signal}: ${/^FAIL: .*$/m.exec(run.out)?.[0] ?? ''}`);
  t.regex(run.out, /^ALL OK$/m);
});
