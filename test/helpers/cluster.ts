// A running one-node rapid with a private redis and known users, plus direct
// access to its job queue for jobs RAPI cannot submit (OP_TEST_DELAY).
import { connect } from '../../src/store/redis.ts';
import { JobStore } from '../../jobs/store.ts';
import { JobQueue } from '../../jobs/queue.ts';
import { fillOpcode } from '../../jobs/opcodes.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startRedis, type RedisProc } from './redis.ts';
import { recordPid, unrecordPid, repoRoot, tempDir, terminate, waitExit } from './pids.ts';
import { startRapid, type RapidProc } from './rapid.ts';
import { rapi, waitForJob, type RapiOptions } from './http.ts';

export const USERS = 'admin adminpw write\nreader readerpw read\nnobody nobodypw\n';
export const WRITER = { user: 'admin', password: 'adminpw' };
export const READER = { user: 'reader', password: 'readerpw' };
export const NODE = 'node1.example.com';

export interface TestCluster {
  redis: RedisProc;
  rapid: RapidProc;
  /** Extra node workers, by node name. */
  workers: Map<string, WorkerProc>;
  /** Start a node worker that joins the cluster as `name`. */
  addNode(name: string, ip?: string, o?: WorkerOptions): Promise<WorkerProc>;
  /** The node's data directory (kept across restarts of its worker). */
  nodeDataDir(name: string): string | undefined;
  /** Request as the write user. */
  w(method: string, path: string, opts?: RapiOptions): ReturnType<typeof rapi>;
  /** Submit a job and wait for it to finish; returns the job. */
  job(method: string, path: string, opts?: RapiOptions): Promise<any>;
  submitDirect(opId: string, params: Record<string, unknown>): Promise<number>;
  stop(): Promise<void>;
}

export interface WorkerProc {
  name: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export interface WorkerOptions {
  /** Run the worker (and so its guests) inside this network namespace; redisUrl must then be a unix socket. */
  netns?: string;
  env?: Record<string, string>;
}

/** A node worker process joining the cluster with the cluster secret (RAPID_CLUSTER_SECRET_FILE). */
export async function startWorker(redisUrl: string, secretFile: string, name: string, ip: string, dataDir = tempDir(`rapid-node-${name}-`), o: WorkerOptions = {}): Promise<WorkerProc> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RAPID_') && k !== 'REDIS_URL') env[k] = v;
  Object.assign(env, { REDIS_URL: redisUrl, RAPID_NODE_NAME: name, RAPID_DATA_DIR: dataDir, RAPID_CLUSTER_SECRET_FILE: secretFile, RAPID_PRIMARY_IP: ip, ...o.env });
  const script = path.join(repoRoot, 'dist', 'src', 'node-worker.js');
  // `ip netns exec` execs the command after entering the namespace: the pid stays the worker's.
  const [cmd, args] = o.netns ? ['ip', ['netns', 'exec', o.netns, process.execPath, script]] : [process.execPath, [script]];
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  recordPid(proc.pid!, 'node-worker');
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  const exited = waitExit(proc);
  void exited.then(() => unrecordPid(proc.pid!));
  for (let i = 0; !/rapid-node: ready/.test(out); i++) {
    if (proc.exitCode !== null || i > 300) throw new Error(`worker ${name} did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name, proc, output: () => out,
    stop: () => terminate(proc),
    async kill9() { proc.kill('SIGKILL'); await exited; },
  };
}

export async function startCluster(env: Record<string, string> = {}, extraNodes: string[] = []): Promise<TestCluster> {
  const redis = await startRedis();
  const rapid = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_NODE_NAME: NODE, ...env } });
  const workers = new Map<string, WorkerProc>();
  const secretFile = path.join(rapid.dataDir, 'cluster-secret');
  // A restarted worker keeps its node's data dir, as a rebooted host keeps its disks.
  const dataDirs = new Map<string, string>();
  const addNode = async (name: string, ip = `127.0.0.${workers.size + 2}`, o: WorkerOptions = {}) => {
    if (!dataDirs.has(name)) dataDirs.set(name, tempDir(`rapid-node-${name}-`));
    // Inside a network namespace 127.0.0.1 is the namespace's own: redis is reached by its socket.
    const w = await startWorker(o.netns ? redis.socket : redis.url, secretFile, name, ip, dataDirs.get(name), o);
    workers.set(name, w);
    return w;
  };
  for (const n of extraNodes) await addNode(n);
  const conn = connect(redis.url);
  const jobs = new JobStore(conn);
  const queue = new JobQueue(conn, jobs);
  const w = (method: string, path: string, opts: RapiOptions = {}) => rapi(rapid, method, path, { ...WRITER, ...opts });
  return {
    redis, rapid, w, workers, addNode, nodeDataDir: (name) => dataDirs.get(name),
    async job(method, path, opts) {
      const res = await w(method, path, opts);
      if (res.status !== 200 || typeof res.json !== 'number') throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
      return waitForJob(rapid, res.json, WRITER);
    },
    submitDirect: (opId, params) => queue.submit([fillOpcode(opId, params)]),
    async stop() {
      for (const wk of workers.values()) await wk.stop();
      await queue.close();
      conn.disconnect();
      await rapid.stop();
      await redis.stop();
    },
  };
}

/** The version-1 creation body the official client sends, for a fake diskless instance. */
export function createBody(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    __version__: 1, mode: 'create', name, os: 'noop', disk_template: 'diskless', disks: [], nics: [{}],
    name_check: false, ip_check: false, beparams: { memory: 128 }, ...extra,
  };
}
