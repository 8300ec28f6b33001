// The job executor as its own process, so opcode work never delays the RAPI
// daemon's reads. Several may run, on one machine or many: BullMQ hands each
// job to one of them.
import { loadSettings } from './settings.ts';
import { closeQuietly, connect, connectForWorker } from './store/redis.ts';
import { ConfigStore } from './store/config.ts';
import { JobStore } from '../jobs/store.ts';
import { JobQueue } from '../jobs/queue.ts';
import { FilterRules } from '../jobs/filters.ts';
import { LockWaiters } from '../jobs/locks.ts';
import { NodeRpc } from '../jobs/node-rpc.ts';
import { Executor } from '../jobs/executor.ts';

export async function startExecutor(redisUrl: string, concurrency: number) {
  const redis = connect(redisUrl);
  const subscriber = connect(redisUrl, { maxRetriesPerRequest: null });
  const workerConn = connectForWorker(redisUrl);
  const cfg = new ConfigStore(redis);
  await cfg.start(subscriber);
  const waiters = new LockWaiters();
  await waiters.start(subscriber);
  const rpc = new NodeRpc(workerConn, (rt) => cfg.applyRuntime(rt));
  const jobs = new JobStore(redis);
  const queue = new JobQueue(redis, jobs);
  const filters = new FilterRules(redis);
  await filters.start(subscriber);
  const executor = new Executor({ connection: workerConn, cfg, jobs, queue, filters, redis, waiters, node: rpc.call, concurrency });
  return {
    /**
     * Running opcodes get a grace period; an opcode still running after it is
     * abandoned with the process: its job is failed by the reconciler, never re-run.
     */
    async stop(graceMs = 10_000): Promise<void> {
      const finished = await Promise.race([executor.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), graceMs))]);
      if (!finished) return;
      await Promise.allSettled([rpc.close(), queue.close(), cfg.stop()]);
      await Promise.allSettled([redis, subscriber, workerConn].map(closeQuietly));
    },
  };
}

async function main(): Promise<void> {
  const settings = loadSettings();
  if (!settings.redisUrl) throw new Error('REDIS_URL is required');
  const ex = await startExecutor(settings.redisUrl, settings.jobConcurrency);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void ex.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (process.env.RAPID_PARENT_PIPE === '1') {
    process.stdin.on('end', shutdown);
    process.stdin.resume();
  }
  console.log('rapid-executor: ready');
}

if (process.argv[1]?.endsWith('executor-main.js')) {
  main().catch((err) => { console.error('rapid-executor:', err instanceof Error ? err.message : err); process.exit(1); });
}
