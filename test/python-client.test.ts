// Ganeti's official RAPI client (Debian python3-ganeti-rapi, pycurl over
// GnuTLS) driven through a whole instance lifecycle against the real daemon:
// test/python/client_flow.py does the calls and assertions, this test starts
// rapid for it and checks that the script exits 0.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { recordPid, repoRoot, tempDir, unrecordPid } from './helpers/pids.ts';
import { startRapid } from './helpers/rapid.ts';
import { startRedis } from './helpers/redis.ts';

// The system interpreter: the default python3 (pyenv) cannot see dist-packages.
const PYTHON = '/usr/bin/python3';
const FLOW = path.join(repoRoot, 'test', 'python', 'client_flow.py');
const NODE = 'node1.example.com';
const USER = 'flowadmin';
const PASSWORD = 'flow-secret';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

function runPython(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(PYTHON, [FLOW, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (proc.pid !== undefined) recordPid(proc.pid, 'client_flow.py');
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => {
      out += `\n[killed after ${timeoutMs} ms]`;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (proc.pid !== undefined) unrecordPid(proc.pid);
      resolve({ code, signal, out });
    });
  });
}

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

  // Only the certificate: rapi.pem also holds the private key.
  const certs = rapid.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g);
  t.truthy(certs, 'rapi.pem holds a certificate');
  const cafile = path.join(tempDir('rapid-pyclient-'), 'ca.pem');
  fs.writeFileSync(cafile, certs!.join('\n'));

  const run = await runPython(['127.0.0.1', String(rapid.port), USER, PASSWORD, cafile, NODE], 110_000);
  t.log(run.out.trimEnd());
  if (run.code !== 0) t.log(`--- rapid stderr ---\n${rapid.stderr()}`);
  t.is(run.code, 0, `client_flow.py exited ${run.code ?? run.signal}: ${/^FAIL: .*$/m.exec(run.out)?.[0] ?? ''}`);
  t.regex(run.out, /^ALL OK$/m);
});
