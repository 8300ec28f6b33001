// rapid's daemon: the RAPI server, the job executor and, for a one-node
// cluster, its own redis-server and local node worker as child processes.
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from './settings.ts';
import { startRedis, type EmbeddedRedis } from './redis-server.ts';
import { closeQuietly, connect, connectForWorker } from './store/redis.ts';
import { ConfigStore } from './store/config.ts';
import { ensureCluster, ensureClusterSecret } from './cluster-init.ts';
import { JobIdFloor } from './job-id-floor.ts';
import { PidFiles } from './pidfiles.ts';
import { ensureSelfSigned, loadTls } from '../certs/selfsigned.ts';
import { UsersFile, ensureUsersFile } from '../rapi/users.ts';
import { TokenStore } from '../rapi/tokens.ts';
import { createApp } from '../rapi/server.ts';
import { RESOURCES } from '../rapi/resources.ts';
import type { Services } from '../rapi/services.ts';
import { JobStore } from '../jobs/store.ts';
import { JobQueue } from '../jobs/queue.ts';
import { JobWatch } from '../jobs/watch.ts';
import { FilterRules } from '../jobs/filters.ts';
import { startExecutor } from './executor-main.ts';
import { SupervisedChild } from './children.ts';
import { NodeRpc, STEP } from '../jobs/node-rpc.ts';
import { gatherOsReports, osDiagnoseRows, osInfos } from '../jobs/ops/os.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(here, '../../package.json'), 'utf8')) as { version: string }).version;

async function main(): Promise<void> {
  const settings = loadSettings();
  mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 });
  const pids = new PidFiles(process.env.RAPID_PID_DIR || path.join(settings.dataDir, 'run'));
  let stopping = false;

  let embedded: EmbeddedRedis | undefined;
  let redisUrl = settings.redisUrl;
  if (!redisUrl) {
    embedded = await startRedis(settings.dataDir, (code) => {
      if (!stopping) { console.error(`rapid: redis-server exited (${code}); stopping`); void shutdown(1); }
    });
    pids.record('redis', embedded.pid, 'redis-server');
    redisUrl = embedded.url;
  }

  const redis = connect(redisUrl);
  const subscriber = connect(redisUrl, { maxRetriesPerRequest: null });
  const workerConn = connectForWorker(redisUrl);
  const cfg = new ConfigStore(redis);
  await cfg.start(subscriber);
  const floor = embedded ? new JobIdFloor(path.join(settings.dataDir, 'job-id-floor'), redis) : undefined;
  await floor?.start();
  if (await ensureCluster(cfg, redis, settings)) console.log(`rapid: initialised cluster ${cfg.cluster.name}`);
  await ensureClusterSecret(redis, path.join(settings.dataDir, 'cluster-secret'));

  const jobs = new JobStore(redis);
  const queue = new JobQueue(redis, jobs);
  const watch = new JobWatch();
  await watch.start(subscriber);
  // The daemon asks nodes directly only for reads such as /2/os.
  const rpc = new NodeRpc(workerConn, (rt) => cfg.applyRuntime(rt));

  // Records left unfinished by a crash are settled, then checked periodically.
  const housekeep = () => {
    void queue.reconcile().catch((e) => console.error('rapid: reconcile:', e.message));
    void jobs.archive(settings.jobRetention, settings.archiveMax).catch((e) => console.error('rapid: archive:', e.message));
  };
  housekeep();
  const housekeeping = setInterval(housekeep, settings.reconcileInterval * 1000);

  const childEnv = { ...process.env, REDIS_URL: redisUrl, RAPID_DATA_DIR: settings.dataDir };
  const children: SupervisedChild[] = [];
  // Opcodes run in executor processes, so job work never slows reads down.
  let inlineExecutor: Awaited<ReturnType<typeof startExecutor>> | undefined;
  if (settings.executorProcesses === 0) inlineExecutor = await startExecutor(redisUrl, settings.jobConcurrency);
  for (let i = 0; i < settings.executorProcesses; i++) {
    children.push(new SupervisedChild({ name: `executor-${i}`, script: path.join(here, 'executor-main.js'), env: childEnv, ready: /rapid-executor: ready/ }, pids));
  }
  const node = cfg.byName('node', settings.nodeName);
  if (settings.localWorker && node) {
    children.push(new SupervisedChild({
      name: 'worker', script: path.join(here, 'node-worker.js'),
      env: { ...childEnv, RAPID_NODE_NAME: node.name, RAPID_NODE_UUID: node.uuid }, ready: /rapid-node: ready/,
    }, pids));
  } else if (settings.localWorker) {
    console.error(`rapid: node ${settings.nodeName} is not in the cluster; no local worker`);
  }
  const since = Date.now();
  await Promise.all(children.map((ch) => ch.start()));
  // Ready means usable: the local node's worker has reported (an earlier
  // worker's last report may still be in Redis, hence the time check).
  for (let i = 0; node && settings.localWorker && i < 300 && !((cfg.liveRuntime(node.uuid)?.heartbeat ?? 0) >= since); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }

  const svc: Services = {
    cfg, jobs, queue, watch, filters: new FilterRules(redis), settings, rapidVersion: VERSION,
    submit: (ops) => queue.submit(ops),
    async osList() {
      // OP_OS_DIAGNOSE(output_fields=["name", "variants"]) without a job; an HTTP client waits for no slow node.
      const rows = osDiagnoseRows(osInfos(cfg.cluster, await gatherOsReports(cfg, rpc.call, 10_000)), ['name', 'variants'], []);
      return rows.map(([name, variants]) => ({ name: name as string, variants: variants as string[] }));
    },
    node: rpc.call,
    exportList: async (nodeName) => (await rpc.call(nodeName, STEP.exportList, {}, 10_000)) as string[],
  };

  const users = new UsersFile(path.join(settings.dataDir, 'users'));
  const password = ensureUsersFile(path.join(settings.dataDir, 'users'));
  if (password) console.log(`rapid: created ${path.join(settings.dataDir, 'users')} with user "admin", password: ${password}`);
  users.load();
  process.on('SIGHUP', () => { users.load(); console.log('rapid: reloaded users file'); });

  const app = createApp({ svc, users, tokens: new TokenStore(redis), resources: RESOURCES, version: VERSION });
  let server: http.Server;
  if (settings.tls) {
    if (!settings.certPath) await ensureSelfSigned(settings.dataDir);
    const tls = await loadTls({ dataDir: settings.dataDir, certPath: settings.certPath, keyPath: settings.keyPath, caPath: settings.caPath });
    server = https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, minVersion: 'TLSv1.2' }, app.callback());
  } else {
    server = http.createServer(app.callback());
  }
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.bind, () => resolve());
  });
  const host = settings.bind === '0.0.0.0' ? '127.0.0.1' : settings.bind.includes(':') ? `[${settings.bind}]` : settings.bind;
  console.log(`rapid: ready ${settings.tls ? 'https' : 'http'}://${host}:${settings.port}`);

  async function shutdown(code = 0): Promise<void> {
    if (stopping) return;
    stopping = true;
    console.log('rapid: stopping');
    clearInterval(housekeeping);
    await floor?.stop();
    server.close();
    server.closeAllConnections();
    // Executors give running opcodes a grace period; whatever is left is
    // failed on the next start by the reconciler, never silently re-run.
    await Promise.all([...children.map((ch) => ch.stop()), inlineExecutor?.stop()]);
    await Promise.allSettled([rpc.close(), queue.close(), cfg.stop()]);
    await Promise.allSettled([redis, subscriber, workerConn].map(closeQuietly));
    if (embedded) {
      await embedded.stop();
      pids.remove('redis', embedded.pid);
    }
    process.exit(code);
  }
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
}

main().catch((err) => {
  console.error('rapid: failed to start:', err);
  process.exit(1);
});
