// The kvm hypervisor's costs on real QEMU/tcg (`npm run bench:kvm`, or
// `node dist/bench/kvm.js`; also the last part of `npm run bench`):
//   - startup job: submit → success of OP_INSTANCE_STARTUP, against the
//     baseline measured in the same run: QEMU's own launch (the very argv the
//     job ran, started by hand: -daemonize returns, QMP answers, `cont`);
//     the difference is rapid's overhead (target ≤ 200 ms);
//   - boot to ready: job success → the test guest's GUEST-READY on serial;
//   - shutdown job (ACPI power button) submit → success.
// Figures are printed, not asserted. One guest at a time.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startRedis } from '../test/helpers/redis.ts';
import { tempDir } from '../test/helpers/pids.ts';
import { startRapid } from '../test/helpers/rapid.ts';
import { testGuest, READY } from '../test/helpers/guest.ts';
import { waitForJob } from '../test/helpers/http.ts';
import { processAlive } from '../hypervisor/host.ts';
import { QmpClient } from '../hypervisor/qmp.ts';
import { Client, pct, sleep, tsMs } from './lib.ts';

const USER = { user: 'bench', password: 'bench-kvm' };

export interface KvmBenchResult {
  startupJobMs: number[];
  qemuLaunchMs: number[];
  bootToReadyMs: number[];
  shutdownJobMs: number[];
}

async function until(what: string, fn: () => boolean, ms: number, stepMs = 5): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}

export async function benchKvm(rounds = 5, log: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<KvmBenchResult> {
  const g = await testGuest();
  const redis = await startRedis();
  const rapid = await startRapid({
    redisUrl: redis.url, users: `${USER.user} ${USER.password} write\n`,
    env: { RAPID_NODE_NAME: 'node1.example.com', RAPID_HYPERVISORS: 'kvm,fake', RAPID_KVM_ACCEL: 'tcg' },
  });
  const api = new Client(rapid.baseUrl, rapid.ca, { ...USER, maxSockets: 4 });
  const name = 'bench-kvm.example.com';
  const runDir = path.join(rapid.dataDir, 'kvm');
  const serialLog = path.join(runDir, 'log', `${name}.serial.log`);
  const handDir = tempDir('rapid-bench-qemu-');
  for (const d of ['pid', 'ctrl', 'conf', 'log']) mkdirSync(path.join(handDir, d));
  const readyCount = () => (existsSync(serialLog) ? readFileSync(serialLog, 'latin1').split(READY).length - 1 : 0);
  const job = async (method: string, p: string, body?: unknown) => {
    const id = await api.json(method, p, body);
    const rec = await waitForJob(rapid, id, USER);
    if (rec.status !== 'success') throw new Error(`${method} ${p}: ${JSON.stringify(rec.opresult)}`);
    // The job's own clock: received → ended, without this client's polling.
    return { ms: tsMs(rec.end_ts) - tsMs(rec.received_ts), endMs: tsMs(rec.end_ts) };
  };
  const r: KvmBenchResult = { startupJobMs: [], qemuLaunchMs: [], bootToReadyMs: [], shutdownJobMs: [] };
  try {
    await job('POST', '/2/instances', {
      __version__: 1, mode: 'create', name, os: 'noop', disk_template: 'diskless', disks: [], nics: [],
      name_check: false, ip_check: false, start: false, ignore_ipolicy: true, hypervisor: 'kvm',
      beparams: { memory: 128, vcpus: 1 },
      hvparams: { kernel_path: g.kernel, initrd_path: g.initrd, root_path: '/dev/ram0', kernel_args: 'ro quiet', serial_console: true },
    });
    let argv: string[] = [];
    for (let i = 0; i < rounds; i++) {
      log(`.. kvm round ${i + 1}/${rounds}`);
      const before = readyCount();
      const start = await job('PUT', `/2/instances/${name}/startup`);
      r.startupJobMs.push(start.ms);
      await until('GUEST-READY', () => readyCount() > before, 60_000);
      r.bootToReadyMs.push(Date.now() - start.endMs);
      argv = (JSON.parse(readFileSync(path.join(runDir, 'conf', `${name}.runtime`), 'utf8')) as { argv: string[] }).argv;
      r.shutdownJobMs.push((await job('PUT', `/2/instances/${name}/shutdown`, { timeout: 60 })).ms);

      // The baseline: the same argv by hand, as far as rapid's start goes (QEMU up and continued),
      // in a run directory of its own so that the node worker does not adopt it.
      const own = argv.map((a) => a.split(runDir).join(handDir));
      const t0 = performance.now();
      const code = await new Promise<number | null>((resolve, reject) => {
        const p = spawn(own[0]!, own.slice(1), { stdio: 'ignore' });
        p.once('error', reject);
        p.once('exit', resolve);
      });
      if (code !== 0) throw new Error(`QEMU by hand exited with ${code}`);
      const qmp = await QmpClient.connect(path.join(handDir, 'ctrl', `${name}.qmp`), { timeoutMs: 10_000 });
      await qmp.execute('cont');
      r.qemuLaunchMs.push(performance.now() - t0);
      qmp.destroy();
      const pid = parseInt(readFileSync(path.join(handDir, 'pid', name), 'utf8'), 10);
      process.kill(pid, 'SIGKILL');
      await until('the hand-started QEMU to exit', () => !processAlive(pid), 10_000);
    }
    await job('DELETE', `/2/instances/${name}`);
  } finally {
    api.close();
    await rapid.stop();
    await redis.stop();
  }
  return r;
}

export function printKvm(r: KvmBenchResult, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const p50 = (v: number[]) => pct(v, 50);
  const overhead = r.startupJobMs.map((ms, i) => ms - (r.qemuLaunchMs[i] ?? NaN));
  const f = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} ms` : 'n/a');
  out('');
  out('kvm on QEMU/tcg (p50 / max over rounds)');
  out(`  startup job, submit → success        ${f(p50(r.startupJobMs))} / ${f(Math.max(...r.startupJobMs))}`);
  out(`  baseline: QEMU launch by hand         ${f(p50(r.qemuLaunchMs))} / ${f(Math.max(...r.qemuLaunchMs))}`);
  out(`  rapid's startup overhead              ${f(p50(overhead))} / ${f(Math.max(...overhead))}   target ≤ 200 ms: ${p50(overhead) <= 200 ? 'PASS' : 'MISS'}`);
  out(`  boot to GUEST-READY after the job     ${f(p50(r.bootToReadyMs))} / ${f(Math.max(...r.bootToReadyMs))}`);
  out(`  shutdown job (ACPI), submit → success ${f(p50(r.shutdownJobMs))} / ${f(Math.max(...r.shutdownJobMs))}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  benchKvm(Number(process.env.BENCH_KVM_ROUNDS || 5)).then((r) => printKvm(r), (err) => {
    console.error('bench kvm:', err);
    process.exit(1);
  });
}
