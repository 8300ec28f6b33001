// Ganeti's official RAPI client drives a real kvm guest (QEMU/tcg) on a
// one-node cluster: test/python/kvm_flow.py does the RAPI side; this test
// then checks that nothing leaked on the node: no QEMU, no disk file.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startRedis } from './helpers/redis.ts';
import { startRapid } from './helpers/rapid.ts';
import { caFile } from './helpers/http.ts';
import { repoRoot, tempDir } from './helpers/pids.ts';
import { runProgram } from './helpers/run.ts';
import { testGuest } from './helpers/guest.ts';

const NODE = 'node1.example.com';

/** Processes whose command line names the instance (a QEMU has `-name <instance>`). */
function processesNaming(name: string): number[] {
  const found: number[] = [];
  for (const d of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(name)) found.push(Number(d));
    } catch { /* gone */ }
  }
  return found;
}

test('official Python client: a kvm guest from OS install to deletion, nothing left behind', async (t) => {
  t.timeout(600_000);
  await testGuest();
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const rapid = await startRapid({
    redisUrl: redis.url, users: 'pyadmin py-secret write\n',
    env: { RAPID_NODE_NAME: NODE, RAPID_HYPERVISORS: 'kvm,fake', RAPID_KVM_ACCEL: 'tcg' },
  });
  t.teardown(() => rapid.stop());
  const run = await runProgram('/usr/bin/python3', [
    path.join(repoRoot, 'test', 'python', 'kvm_flow.py'), '127.0.0.1', String(rapid.port), 'pyadmin', 'py-secret',
    caFile(rapid.ca, tempDir('rapid-pykvm-')), NODE, path.join(rapid.dataDir, 'kvm'),
  ], 580_000);
  t.log(run.out.trimEnd());
  t.is(run.code, 0, /^FAIL: .*$/m.exec(run.out)?.[0] ?? `exit ${run.code ?? run.signal}`);
  t.regex(run.out, /^ALL OK$/m);
  const name = /^INSTANCE (\S+)$/m.exec(run.out)![1]!;
  t.deepEqual(processesNaming(name), [], 'no QEMU left for the instance');
  const storage = path.join(rapid.dataDir, 'storage');
  const left = fs.existsSync(storage) ? fs.readdirSync(storage, { recursive: true }).map(String).filter((f) => f.includes(name)) : [];
  t.deepEqual(left, [], 'no disk file left');
  t.true(fs.existsSync(path.join(rapid.dataDir, 'kvm', 'log', `${name}.serial.log`)), 'the serial log is kept');
});
