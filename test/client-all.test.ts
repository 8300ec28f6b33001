// Every public method of Ganeti's official RAPI client (Debian
// python3-ganeti-rapi) against a 3-node fake cluster: test/python/client_all.py
// makes the calls and checks results, job outcomes and the state they leave;
// this test starts the cluster, pins its CA for the script and wants exit 0.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, tempDir } from './helpers/pids.ts';
import { caFile } from './helpers/http.ts';
import { runProgram, type Run } from './helpers/run.ts';
import { startCluster, NODE, WRITER, type TestCluster } from './helpers/cluster.ts';

// The system interpreter: the default python3 (pyenv) cannot see dist-packages.
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(repoRoot, 'test', 'python', 'client_all.py');
const CLIENT = '/usr/lib/python3/dist-packages/ganeti/rapi/client.py';
const NODE2 = 'node2.example.com';
const NODE3 = 'node3.example.com';

const runPython = (args: string[], timeoutMs: number): Promise<Run> => runProgram(PYTHON, [SCRIPT, ...args], timeoutMs);

let c: TestCluster | undefined;
test.after.always(async () => { await c?.stop(); });

test('official Python RAPI client: every public method against a 3-node cluster', async (t) => {
  t.timeout(150_000);
  if (!fs.existsSync(CLIENT)) {
    t.fail(`python3-ganeti-rapi is not installed (${CLIENT})`);
    return;
  }
  c = await startCluster({}, [NODE2, NODE3]);

  const cafile = caFile(c.rapid.ca, tempDir('rapid-client-all-'));

  const run = await runPython(
    ['127.0.0.1', String(c.rapid.port), WRITER.user, WRITER.password, cafile, NODE, NODE2, NODE3], 130_000);
  t.log(run.out.trimEnd());
  if (run.code !== 0) t.log(`--- rapid stderr (tail) ---\n${c.rapid.stderr().slice(-6000)}`);
  const failures = run.out.match(/^FAIL: .*$/gm) ?? [];
  t.is(run.code, 0, `client_all.py exited ${run.code ?? run.signal}:\n${failures.join('\n')}`);
  t.regex(run.out, /^not exercised: none$/m, 'every public client method was called');
  t.regex(run.out, /^ALL OK$/m);
});
