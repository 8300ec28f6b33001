// A running one-node rapid with a private redis and known users, plus direct
// access to its job queue for jobs RAPI cannot submit (OP_TEST_DELAY).
import { connect } from '../../src/store/redis.ts';
import { JobStore } from '../../jobs/store.ts';
import { JobQueue } from '../../jobs/queue.ts';
import { fillOpcode } from '../../jobs/opcodes.ts';
import { startRedis, type RedisProc } from './redis.ts';
import { startRapid, type RapidProc } from './rapid.ts';
import { rapi, waitForJob, type RapiOptions } from './http.ts';

export const USERS = 'admin adminpw write\nreader readerpw read\nnobody nobodypw\n';
export const WRITER = { user: 'admin', password: 'adminpw' };
export const READER = { user: 'reader', password: 'readerpw' };
export const NODE = 'node1.example.com';

export interface TestCluster {
  redis: RedisProc;
  rapid: RapidProc;
  /** Request as the write user. */
  w(method: string, path: string, opts?: RapiOptions): ReturnType<typeof rapi>;
  /** Submit a job and wait for it to finish; returns the job. */
  job(method: string, path: string, opts?: RapiOptions): Promise<any>;
  submitDirect(opId: string, params: Record<string, unknown>): Promise<number>;
  stop(): Promise<void>;
}

export async function startCluster(env: Record<string, string> = {}): Promise<TestCluster> {
  const redis = await startRedis();
  const rapid = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_NODE_NAME: NODE, ...env } });
  const conn = connect(redis.url);
  const jobs = new JobStore(conn);
  const queue = new JobQueue(conn, jobs);
  const w = (method: string, path: string, opts: RapiOptions = {}) => rapi(rapid, method, path, { ...WRITER, ...opts });
  return {
    redis, rapid, w,
    async job(method, path, opts) {
      const res = await w(method, path, opts);
      if (res.status !== 200 || typeof res.json !== 'number') throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
      return waitForJob(rapid, res.json, WRITER);
    },
    submitDirect: (opId, params) => queue.submit([fillOpcode(opId, params)]),
    async stop() {
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
    name_check: false, ip_check: false, beparams: { memory: 64 }, ...extra,
  };
}
