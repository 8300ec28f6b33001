// Node join latency: a node worker process joins a running cluster the way
// an operator starts one on a new host (README, "More nodes"), and the clock
// runs from its spawn until rapid serves the node with live data. Called by
// a benchmark driver with a running rapid:
//
//   const samples = await benchJoin(api, { redisUrl, secretFile: <rapid data dir>/cluster-secret });
//
// Each joined node is removed again (`rapid node remove`, as an operator
// would) and its worker stopped before the next one starts, so the cluster
// has the same nodes before and after.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { recordPid, unrecordPid, tempDir, terminate, waitExit } from '../test/helpers/pids.ts';
import { type Client, sleep, tsMs } from './lib.ts';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
/** A join that takes longer is broken, not slow. */
const JOIN_TIMEOUT_MS = 30_000;
/** Sleep between two GET /2/nodes/<name> probes: the figures' resolution, on top of one request. */
const POLL_MS = 5;

export interface JoinOptions {
  redisUrl: string;
  /** The master's $RAPID_DATA_DIR/cluster-secret. */
  secretFile: string;
  joins?: number;
  /** Node i gets primary IP 127.0.0.(ipBase + i); each must be unused by the cluster. */
  ipBase?: number;
}

export interface JoinSample {
  name: string;
  /** Spawn → OP_NODE_ADD received (process start-up, config load, secret check). */
  toJobMs: number;
  /** OP_NODE_ADD received → finished, as the job records it. */
  jobMs: number;
  /** Spawn → the worker says it is ready: it takes jobs (after its first heartbeat, so often after liveMs). */
  readyMs: number;
  /** Spawn → GET /2/nodes/<name> answers 200. */
  listedMs: number;
  /** Spawn → GET /2/nodes/<name> has live data (mfree not null): the figure. */
  liveMs: number;
}

/** Our environment minus rapid's settings: nothing of the caller's shell may point a child elsewhere. */
function cleanEnv(redisUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RAPID_') && k !== 'REDIS_URL') env[k] = v;
  return { ...env, REDIS_URL: redisUrl };
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, [path.join(dist, script), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
  return waitExit(proc).then((code) => ({ code, out }));
}

async function joinOnce(api: Client, o: JoinOptions, name: string, ip: string): Promise<JoinSample> {
  const env = {
    ...cleanEnv(o.redisUrl), RAPID_NODE_NAME: name, RAPID_PRIMARY_IP: ip,
    RAPID_DATA_DIR: tempDir(`rapid-bench-join-${name}-`), RAPID_CLUSTER_SECRET_FILE: o.secretFile,
  };
  const epoch0 = Date.now();
  const t0 = performance.now();
  const proc: ChildProcess = spawn(process.execPath, [path.join(dist, 'node-worker.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  recordPid(proc.pid!, 'node-worker');
  let out = '';
  let readyMs = NaN;
  let jobId: number | undefined;
  const onData = (b: Buffer) => {
    out += b.toString();
    jobId ??= Number(/joined the cluster as \S+ \(job (\d+)\)/.exec(out)?.[1]) || undefined;
    if (Number.isNaN(readyMs) && /rapid-node: ready/.test(out)) readyMs = performance.now() - t0;
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  try {
    let listedMs = NaN;
    let liveMs = NaN;
    while (Number.isNaN(liveMs)) {
      if (proc.exitCode !== null) throw new Error(`worker ${name} exited (${proc.exitCode}):\n${out}`);
      if (performance.now() - t0 > JOIN_TIMEOUT_MS) throw new Error(`worker ${name} not live after ${JOIN_TIMEOUT_MS} ms:\n${out}`);
      const r = await api.request('GET', `/2/nodes/${name}`);
      const at = performance.now() - t0;
      if (r.status === 200) {
        if (Number.isNaN(listedMs)) listedMs = at;
        if (typeof JSON.parse(r.text).mfree === 'number') liveMs = at;
      }
      if (Number.isNaN(liveMs)) await sleep(POLL_MS);
    }
    // The bulk listing is served from the same snapshot; check it once rather
    // than poll it (it carries the master's 10k-name pinst_list).
    const listed = ((await api.json('GET', '/2/nodes?bulk=1')) as { name: string; mfree: number | null }[]).find((n) => n.name === name);
    if (typeof listed?.mfree !== 'number') throw new Error(`${name} live in /2/nodes/${name} but not in /2/nodes?bulk=1`);
    // The worker heartbeats before its job queue is ready and it says so.
    while (Number.isNaN(readyMs)) {
      if (proc.exitCode !== null || performance.now() - t0 > JOIN_TIMEOUT_MS) throw new Error(`worker ${name} never ready:\n${out}`);
      await sleep(POLL_MS);
    }
    if (jobId === undefined) throw new Error(`worker ${name} did not print its join job:\n${out}`);
    const job = (await api.json('GET', `/2/jobs/${jobId}`)) as { status: string; received_ts: [number, number]; end_ts: [number, number] };
    if (job.status !== 'success') throw new Error(`join job ${jobId} of ${name}: ${job.status}`);
    return {
      name, toJobMs: tsMs(job.received_ts) - epoch0, jobMs: tsMs(job.end_ts) - tsMs(job.received_ts), readyMs, listedMs, liveMs,
    };
  } finally {
    const rm = await run('cli.js', ['node', 'remove', name], cleanEnv(o.redisUrl));
    await terminate(proc, 5000);
    unrecordPid(proc.pid!);
    if (rm.code !== 0) console.error(`bench: rapid node remove ${name} (exit ${rm.code}): ${rm.out.trim()}`);
  }
}

/** `joins` nodes, one after another. */
export async function benchJoin(api: Client, o: JoinOptions): Promise<JoinSample[]> {
  const samples: JoinSample[] = [];
  for (let i = 0; i < (o.joins ?? 5); i++) {
    samples.push(await joinOnce(api, o, `benchjoin${i + 1}.example.com`, `127.0.0.${(o.ipBase ?? 20) + i}`));
  }
  return samples;
}
