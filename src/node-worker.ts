// A node worker: one process per hypervisor host. It carries out node steps
// from its own queue with the host's drivers and reports the host's state
// (heartbeat) so the cluster knows what runs where. Guests outlive it.
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import path from 'node:path';
import type { Redis } from 'ioredis';
import os from 'node:os';
import { mkdir, readFile, statfs } from 'node:fs/promises';
import { closeQuietly, connect, connectForWorker } from './store/redis.ts';
import { K, QUEUE_PREFIX, nodeQueue } from './store/keys.ts';
import { ConfigStore, RUNTIME_TTL_MS } from './store/config.ts';
import { JobStore } from '../jobs/store.ts';
import { JobQueue } from '../jobs/queue.ts';
import { fillOpcode } from '../jobs/opcodes.ts';
import { calcStatus } from '../jobs/status.ts';
import type { NodeRuntime } from './model.ts';
import { STEP, STEP_ERROR_PREFIX, type NodeStepResult } from '../jobs/node-rpc.ts';
import type { InstanceSpec, SpecDisk } from '../jobs/ops/instance-spec.ts';
import { isDrbd } from '../jobs/ops/drbd.ts';
import { DrbdDisks } from '../hypervisor/drbd-disks.ts';
import { FakeHypervisor } from '../hypervisor/fake.ts';
import { HypervisorFailure, type HotplugAction, type HypervisorDriver } from '../hypervisor/driver.ts';
import { KvmHypervisor } from '../hypervisor/kvm.ts';
import { lockRunDir } from '../hypervisor/run-lock.ts';
import type { KvmAccel } from '../hypervisor/kvm-cmdline.ts';
import { ExportStore, FileDisks, sendImage } from '../hypervisor/disks.ts';
import { BUILTIN_OS_DIR, DEFAULT_OS_SEARCH_PATH, retireWrittenNoopOs } from '../hypervisor/os.ts';
import { OsScripts } from '../hypervisor/os-run.ts';
import { access, constants as fsConstants, lstat, readdir } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { cachedKvmVerdict } from '../hypervisor/kvm-probe.ts';
import { buildTestGuest } from '../hypervisor/test-guest.ts';
import { QEMU_SYSTEM } from '../hypervisor/host.ts';
import { isIPv6 } from 'node:net';
import type { Readable } from 'node:stream';

export interface NodeWorkerOptions {
  redisUrl: string;
  nodeName: string;
  nodeUuid: string;
  stateDir: string;
  storageDir: string;
  osSearchPath: string[];
  /** Where each OS script run leaves its log (Ganeti's /var/log/ganeti/os). */
  osLogDir: string;
  /** The cluster's shared file storage directory, the same path on every node. */
  sharedStorageDir: string;
  exportDir: string;
  /** drbd disks' data and meta data (the node's "volume group"). */
  drbdDir: string;
  /** The kvm driver's run directory (pidfiles, QMP sockets, serial logs; storage daemons' too). */
  kvmRunDir: string;
  /** `auto` is settled by resolveKvmAccel: a value, or a boot probe run at the first guest start. */
  kvmAccel: KvmAccel | (() => Promise<KvmAccel>);
  /** RAPID_KVM_TCG_LIVE_MIGRATION=1: TCG guests migrate live even on a QEMU before 9.0 (see hypervisor/kvm-migration.ts). */
  kvmTcgLiveMigration?: boolean;
}

const HEARTBEAT_MS = 2_000;
/** backend.PowercycleNode answers first and cycles the node this much later. */
const POWERCYCLE_DELAY_MS = 5_000;

class StepError extends Error {
  constructor(cls: string, text: string, ecode?: string) {
    super(STEP_ERROR_PREFIX + JSON.stringify([cls, text, ecode]));
  }
}

/** utils.CalculateDirectorySize: apparent sizes, so sparse disks count in full. */
async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await directoryBytes(p) : ((await lstat(p).catch(() => undefined))?.size ?? 0);
  }
  return total;
}

/** netutils.IPAddress.Own: an address is this host's if a socket can bind to it. */
function ownsAddress(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const done = (owned: boolean) => { try { s.close(); } catch { /* never bound */ } resolve(owned); };
    s.once('error', () => done(false));
    s.bind({ address, port: 0 }, () => done(true));
  });
}

export class NodeWorker {
  private redis;
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private drivers: Record<string, HypervisorDriver>;
  private kvm: KvmHypervisor;
  private disks: FileDisks;
  private exports: ExportStore;
  private drbd: DrbdDisks;
  private os: OsScripts;
  private unlockRunDir: (() => Promise<void>) | undefined;

  constructor(private o: NodeWorkerOptions) {
    this.redis = connect(o.redisUrl);
    // A guest that exits on its own changes the cluster's view at once, not at the next heartbeat.
    this.kvm = new KvmHypervisor({
      runDir: o.kvmRunDir, accel: o.kvmAccel, tcgLiveMigration: o.kvmTcgLiveMigration,
      onExit: () => void this.heartbeat().catch((e) => console.error('rapid-node: heartbeat:', e.message)),
    });
    this.drivers = { fake: new FakeHypervisor(o.stateDir), kvm: this.kvm };
    this.disks = new FileDisks({ file: o.storageDir, sharedfile: o.sharedStorageDir });
    this.exports = new ExportStore(o.exportDir);
    this.os = new OsScripts({ searchPath: o.osSearchPath, logDir: o.osLogDir });
    this.drbd = new DrbdDisks({ nodeUuid: o.nodeUuid, dataDir: o.drbdDir, runDir: o.kvmRunDir });
  }

  async start(): Promise<void> {
    this.unlockRunDir = await lockRunDir(this.o.kvmRunDir);
    await mkdir(this.o.storageDir, { recursive: true });
    // Storage daemons outlive a worker as guests do: take them over.
    await this.drbd.replication.adopt();
    await mkdir(this.o.sharedStorageDir, { recursive: true });
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat().catch((e) => console.error('rapid-node: heartbeat:', e.message)), HEARTBEAT_MS);
    this.worker = new Worker(nodeQueue(this.o.nodeName), (job: Job) => this.process(job), {
      connection: connectForWorker(this.o.redisUrl), prefix: QUEUE_PREFIX, concurrency: 16,
      lockDuration: 30_000, maxStalledCount: 0,
    });
    this.worker.on('error', (e) => console.error('rapid-node: worker:', e.message));
    await this.worker.waitUntilReady();
  }

  private driver(hv: unknown): HypervisorDriver {
    const d = this.drivers[String(hv)];
    if (!d) throw new StepError('HypervisorError', `Hypervisor '${hv}' is not available on node ${this.o.nodeName}`);
    return d;
  }

  private diskPaths(spec: InstanceSpec): string[] {
    return spec.disks.map((d) => (isDrbd(d) ? this.drbd.vmPath(d) : this.disks.pathOf(d.logical_id, spec.disk_template)));
  }

  /** Paths OS scripts can write: drbd disks get scratch files, copied through the replica afterwards. */
  private withOsPaths<T>(spec: InstanceSpec, fn: (paths: string[]) => Promise<T>): Promise<T> {
    const drbd = spec.disks.filter(isDrbd);
    if (!drbd.length) return fn(this.diskPaths(spec));
    if (drbd.length !== spec.disks.length) throw new StepError('OpExecError', 'Instances mixing drbd and other disks are not supported');
    return this.drbd.withScratchFiles(drbd, path.join(this.o.drbdDir, 'scratch'), fn);
  }

  /** The step's disks split by kind: drbd ones for the replica manager, the rest for file disks. */
  private split(spec: InstanceSpec): { drbd: SpecDisk[]; files: SpecDisk[] } {
    return { drbd: spec.disks.filter(isDrbd), files: spec.disks.filter((d) => !isDrbd(d)) };
  }

  private async process(job: Job): Promise<NodeStepResult> {
    try {
      const result = await this.step(job.name, job.data as Record<string, unknown>);
      // Every daemon learns the new state at once, not at the next heartbeat.
      return { result: result ?? null, runtime: await this.heartbeat() };
    } catch (err) {
      if (err instanceof StepError) throw new UnrecoverableError(err.message);
      // KvmParameterError and KvmUnsupportedError are HypervisorFailures too.
      if (err instanceof HypervisorFailure) throw new UnrecoverableError(new StepError('HypervisorError', err.message).message);
      throw new UnrecoverableError(STEP_ERROR_PREFIX + JSON.stringify(['OpExecError', (err as Error).message]));
    }
  }

  private async step(name: string, a: Record<string, unknown>): Promise<unknown> {
    const spec = a.spec as InstanceSpec;
    switch (name) {
      case STEP.instanceStart:
        return this.driver(spec.hypervisor).start(spec, { paused: a.paused === true, diskPaths: this.diskPaths(spec) });
      case STEP.instanceStop:
        return this.driver(a.hypervisor).stop(String(a.name), Number(a.timeout ?? 120));
      case STEP.instanceReboot:
        return this.driver(spec.hypervisor).reboot(spec, a.type as 'soft' | 'hard', Number(a.timeout ?? 120), this.diskPaths(spec));
      case STEP.instanceInfo:
        return (await this.driver(a.hypervisor).list())[String(a.name)] ?? null;
      case STEP.consoleOutput: {
        // Base64: serial output is bytes, and step results travel as JSON.
        const d = this.driver(a.hypervisor);
        return d.consoleOutput ? (await d.consoleOutput(String(a.name), Number(a.length))).toString('base64') : '';
      }
      case STEP.consoleClear:
        return this.driver(a.hypervisor).clearConsoleOutput?.(String(a.name)) ?? null;
      case STEP.disksCreate: {
        const { drbd, files } = this.split(spec);
        const made: unknown[] = [];
        try {
          for (const d of files) { await this.disks.create(d.logical_id, d.size, spec.disk_template); made.push(d.logical_id); }
          await this.drbd.create(drbd);
        } catch (err) {
          for (const id of made) await this.disks.remove(id, spec.disk_template).catch(() => undefined);
          await this.drbd.remove(drbd).catch(() => undefined);
          throw err;
        }
        return null;
      }
      case STEP.disksRemove: {
        const { drbd, files } = this.split(spec);
        for (const d of files) await this.disks.remove(d.logical_id, spec.disk_template);
        await this.drbd.remove(drbd);
        return null;
      }
      case STEP.disksShutdown:
        // File disks have nothing to shut down (FileStorage.Shutdown).
        await this.drbd.shutdown(this.split(spec).drbd);
        return null;
      case STEP.disksMirrorStatus:
        return Promise.all(spec.disks.map(async (d) => (isDrbd(d) ? (await this.drbd.status([d]))[0] : null)));
      case STEP.disksOpen:
        return this.drbd.open(this.split(spec).drbd, a.multimaster === true);
      case STEP.disksClose:
        return this.drbd.close(this.split(spec).drbd);
      case STEP.osDiagnose:
        return this.os.diagnose();
      case STEP.osInstall:
        await this.withOsPaths(spec, (paths) => this.os.add(spec, paths, a.reinstall === true, Number(a.debug ?? 0)));
        return null;
      case STEP.osRename:
        await this.withOsPaths(spec, (paths) => this.os.rename(spec, paths, String(a.old_name), Number(a.debug ?? 0)));
        return null;
      case STEP.osValidate:
        return this.os.validate(a.required === true, String(a.name), a.checks as string[], a.osparams as Record<string, unknown>, a.force_variant === true);
      case STEP.delay:
        await new Promise((r) => setTimeout(r, Number(a.duration) * 1000));
        return null;
      case STEP.storageList:
        return this.storageList(String(a.type), (a.name as string | null) ?? null, a.fields as string[]);
      case STEP.powercycle:
        setTimeout(() => void this.powercycle().catch((e) => console.error('rapid-node: powercycle:', e.message)), POWERCYCLE_DELAY_MS);
        return `Reboot scheduled in ${POWERCYCLE_DELAY_MS / 1000} seconds`;
      case STEP.hasIpAddress:
        return ownsAddress(String(a.address));
      case STEP.instanceBalloon:
        return this.driver(spec.hypervisor).balloon(spec, Number(a.memory));
      case STEP.hotplug: {
        // The device is one of the spec's disks, by uuid; the driver gets its path on this node.
        const drv = this.driver(spec.hypervisor);
        if (!drv.hotplug) throw new StepError('OpExecError', 'Hotplug is not supported by this hypervisor');
        if (a.target === 'nic') {
          const nic = spec.nics.find((n) => n.uuid === a.uuid);
          if (!nic) throw new StepError('OpExecError', `NIC ${a.uuid} is not one of instance ${spec.name}'s`);
          return drv.hotplug(spec, a.action as HotplugAction, 'nic', nic, Number(a.seq));
        }
        const i = spec.disks.findIndex((d) => d.uuid === a.uuid);
        if (i < 0) throw new StepError('OpExecError', `Disk ${a.uuid} is not one of instance ${spec.name}'s`);
        return drv.hotplug(spec, a.action as HotplugAction, 'disk', { uuid: a.uuid, path: this.diskPaths(spec)[i], template: spec.disks[i]!.dev_type }, Number(a.seq));
      }
      case STEP.hotplugSupported:
        if (!this.driver(spec.hypervisor).hotplug) throw new StepError('OpExecError', 'Hotplug is not supported: Hotplug is not supported by this hypervisor');
        return null;
      case STEP.migrationInfo:
        return this.driver(spec.hypervisor).migrationInfo(spec);
      case STEP.migrationAccept:
        return this.driver(spec.hypervisor).acceptInstance(spec, a.info, String(a.target),
          spec.disks.filter(isDrbd).map((d) => [this.drbd.peerVmPath(d), this.drbd.vmPath(d)]));
      case STEP.migrationStart:
        return this.driver(spec.hypervisor).migrateInstance(spec, String(a.target), a.live === true);
      case STEP.migrationStatus:
        return this.driver(spec.hypervisor).migrationStatus(spec);
      case STEP.migrationFinalizeDst:
        return this.driver(spec.hypervisor).finalizeMigrationDst(spec, a.info, a.success === true);
      case STEP.migrationFinalizeSrc:
        return this.driver(spec.hypervisor).finalizeMigrationSource(spec, a.success === true, a.live === true);
      case STEP.disksAssemble: {
        // Per disk [ok, path or failure], so the master can report each one as Ganeti does.
        const primary = spec.primary_node === this.o.nodeUuid;
        const results: unknown[] = [];
        for (const d of spec.disks) {
          const made = isDrbd(d) ? this.drbd.assemble(d, primary, a.force === true) : this.disks.assemble(d.logical_id, spec.disk_template);
          results.push(await made.then((p) => [true, p], (e: Error) => [false, e.message]));
        }
        return results;
      }
      case STEP.disksGrow: {
        // drbd: Ganeti's two passes, the backing store on every node, then the device on the primary.
        if (a.drbd) return this.drbd.replication.grow(String((a.drbd as SpecDisk).uuid), Number(a.amount), { dryRun: a.dryrun === true, backingStore: a.backing_store === true });
        const bytes = await this.disks.grow(a.logical_id, Number(a.amount), a.dryrun === true, String(a.template));
        // A running guest sees its disk grow at once.
        if (!a.dryrun && a.instance) await this.driver(a.hypervisor).diskGrown?.(String(a.instance), this.disks.pathOf(a.logical_id, String(a.template)), bytes);
        return bytes;
      }
      case STEP.disksRenameDir:
        return this.disks.renameDir(String(a.from), String(a.to), String(a.template));
      case STEP.disksConvert: {
        // Either side may be a replica (`drbd`: reached through this node's storage daemon).
        type End = { logicalId: unknown; template: string; drbd?: SpecDisk };
        const [from, to] = [a.from as End, a.to as End];
        if (!from.drbd && !to.drbd) return this.disks.copy(from, to);
        const where = async (e: End) => (e.drbd ? this.drbd.vmPath(e.drbd) : this.disks.assemble(e.logicalId, e.template));
        return this.drbd.copy(await where(from), await where(to));
      }
      case STEP.exportReceive:
        return this.exports.receive(String(a.instance), a.files as string[], String(a.magic), Number(a.timeout) * 1000);
      case STEP.exportSend: {
        const send = (source: string | Readable) => sendImage(source, String(a.host), Number(a.port), String(a.magic), String(a.file), Number(a.timeout) * 1000);
        // An instance with an OS exports what its export script writes (Ganeti's IEIO_SCRIPT).
        if (!spec?.os) return send(this.disks.pathOf(a.logical_id, String(a.template)));
        const out = await this.os.exportDisk(spec, this.diskPaths(spec), Number(a.index));
        const [bytes] = await Promise.all([send(out.stream).catch((err) => { out.abort(); throw err; }), out.done]);
        return bytes;
      }
      case STEP.exportFinalize:
        return this.exports.finalize(String(a.instance), String(a.config));
      case STEP.exportList:
        return this.exports.list();
      case STEP.exportRemove:
        return this.exports.remove(String(a.instance));
      default:
        throw new StepError('OpExecError', `Unknown node step '${name}'`);
    }
  }

  /**
   * A rapid node's power cycle stops every guest at once, as a power loss
   * would; the host itself and this worker keep running.
   */
  private async powercycle(): Promise<void> {
    for (const d of Object.values(this.drivers)) {
      for (const name of Object.keys(await d.list())) await d.stop(name, 0);
    }
    await this.heartbeat();
  }

  /**
   * storage/container.py FileStorage.List for this node: its storage
   * directory is the one unit of both file-based types (rapid keeps file and
   * sharedfile disks there).
   */
  private async storageList(type: string, name: string | null, fields: string[]): Promise<unknown[][]> {
    if (type !== 'file' && type !== 'sharedfile') throw new StepError('OpExecError', `Unknown storage type: '${type}'`);
    const dir = path.resolve(type === 'sharedfile' ? this.o.sharedStorageDir : this.o.storageDir);
    if (name !== null && path.resolve(name) !== dir) return [];
    const fs = await statfs(dir);
    const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
    const values: Record<string, () => Promise<unknown> | unknown> = {
      name: () => dir,
      size: () => mib(fs.blocks * fs.bsize),
      free: () => mib(fs.bavail * fs.bsize),
      used: async () => mib(await directoryBytes(dir)),
      allocatable: () => true,
    };
    return [await Promise.all(fields.map((f) => values[f]?.() ?? null))];
  }

  async runtime(): Promise<NodeRuntime> {
    const drivers = Object.values(this.drivers);
    const [hosts, lists, fs] = await Promise.all([
      Promise.all(drivers.map((d) => d.hostInfo())), Promise.all(drivers.map((d) => d.list())),
      statfs(this.o.storageDir).catch(() => statfs(path.dirname(this.o.storageDir))),
    ]);
    const mib = (blocks: number) => Math.floor((blocks * fs.bsize) / 2 ** 20);
    // Each driver reports the same host and takes its own guests off one
    // figure (fake ones off mfree, real ones are already out of the host's
    // available memory and come off mnode), so the smallest of each is all of them.
    const least = (k: 'mfree' | 'mnode') => Math.min(...hosts.map((h) => h[k]));
    return {
      node: this.o.nodeUuid, heartbeat: Date.now(), ...hosts[0]!, mfree: least('mfree'), mnode: least('mnode'),
      dtotal: mib(fs.blocks), dfree: mib(fs.bavail), instances: Object.assign({}, ...lists),
      kvm_run_dir: this.o.kvmRunDir,
    };
  }

  private async heartbeat(): Promise<NodeRuntime> {
    if (!(await this.redis.hexists(K.config, `node:${this.o.nodeUuid}`))) {
      console.log(`rapid-node: node ${this.o.nodeName} was removed from the cluster; stopping`);
      void this.stop().then(() => process.exit(0));
    }
    const rt = await this.runtime();
    const json = JSON.stringify(rt);
    await this.redis.multi().set(K.runtime(this.o.nodeUuid), json, 'PX', RUNTIME_TTL_MS * 6).publish(K.runtimeChanged, json).exec();
    return rt;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.worker?.close();
    // Lets go of the guests' monitors; the guests keep running for the next worker to adopt.
    await this.kvm.close();
    await this.drbd.replication.release();
    await this.unlockRunDir?.();
    await closeQuietly(this.redis);
  }
}

/**
 * Find this node in the cluster, or join it: check the cluster secret and
 * submit OP_NODE_ADD for ourselves (as a Shaken Fist hypervisor joins).
 */
async function joinCluster(env: NodeJS.ProcessEnv, redis: Redis, name: string): Promise<string> {
  const findNode = async () => (await ConfigStore.readKind(redis, 'node')).find((n) => n.name === name);
  const known = await findNode();
  if (known) return known.uuid;
  const secret = env.RAPID_CLUSTER_SECRET ?? (env.RAPID_CLUSTER_SECRET_FILE ? (await readFile(env.RAPID_CLUSTER_SECRET_FILE, 'utf8')).trim() : '');
  if (!secret || secret !== (await redis.get(K.clusterSecret))) {
    throw new Error('the cluster secret is missing or wrong (RAPID_CLUSTER_SECRET or RAPID_CLUSTER_SECRET_FILE; see $RAPID_DATA_DIR/cluster-secret on the master)');
  }
  const jobs = new JobStore(redis);
  const queue = new JobQueue(redis, jobs);
  const op = fillOpcode('OP_NODE_ADD', {
    node_name: name, primary_ip: env.RAPID_PRIMARY_IP ?? null, secondary_ip: env.RAPID_SECONDARY_IP ?? null,
    group: env.RAPID_NODE_GROUP ?? null, reason: [['rapid:node-worker', 'join', Date.now() * 1e6]],
  });
  const id = await queue.submit([op]);
  await queue.close();
  for (;;) {
    const rec = await jobs.get(id);
    const status = rec && calcStatus(rec.opstatus);
    if (status === 'success') break;
    if (status === 'error' || status === 'canceled') throw new Error(`joining failed (job ${id}): ${JSON.stringify(rec!.opresult)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const node = await findNode();
  if (!node) throw new Error(`node ${name} missing after job ${id}`);
  console.log(`rapid-node: joined the cluster as ${name} (job ${id})`);
  return node.uuid;
}

/** Who we are in the cluster, and the cluster's shared_file_storage_dir (Ganeti hands it out by ssconf). */
async function clusterPlace(env: NodeJS.ProcessEnv, redisUrl: string, name: string): Promise<{ nodeUuid: string; sharedDir: string }> {
  const redis = connect(redisUrl);
  try {
    const nodeUuid = env.RAPID_NODE_UUID || (await joinCluster(env, redis, name));
    const [cluster] = await ConfigStore.readKind(redis, 'cluster');
    return { nodeUuid, sharedDir: env.RAPID_SHARED_STORAGE_DIR || cluster.shared_file_storage_dir };
  } finally {
    await closeQuietly(redis);
  }
}

/**
 * RAPID_KVM_ACCEL: kvm, tcg or auto (the default). decisions.md: auto means
 * kvm only if a probe guest boots under it. Without a usable /dev/kvm that
 * is settled at once (tcg); otherwise the first guest start boots the test
 * guest under kvm once (the verdict is kept in the run directory).
 */
async function resolveKvmAccel(value: string | undefined, runDir: string): Promise<KvmAccel | (() => Promise<KvmAccel>)> {
  const v = (value || 'auto').trim();
  if (v === 'kvm' || v === 'tcg') return v;
  if (v !== 'auto') throw new Error(`RAPID_KVM_ACCEL must be kvm, tcg or auto, not '${v}'`);
  const usable = await access('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK).then(() => true, () => false);
  if (!usable) return 'tcg';
  return async () => {
    try {
      const verdict = await cachedKvmVerdict({ dir: runDir, qemu: QEMU_SYSTEM, guest: buildTestGuest, timeoutMs: KVM_PROBE_TIMEOUT_MS });
      console.log(`rapid-node: RAPID_KVM_ACCEL=auto: ${verdict.usable ? 'kvm' : 'tcg'} (${verdict.detail}${verdict.cached ? ', probed earlier' : ''})`);
      return verdict.usable ? 'kvm' : 'tcg';
    } catch (err) {
      console.log(`rapid-node: RAPID_KVM_ACCEL=auto: tcg (the kvm probe could not run: ${(err as Error).message})`);
      return 'tcg';
    }
  };
}

/** A working KVM boots the guest in about a second; tcg in two. */
const KVM_PROBE_TIMEOUT_MS = 20_000;

/** Entry point when run as its own process (src/main.ts forks one; more nodes start it by hand). */
async function main(): Promise<void> {
  const env = process.env;
  const dataDir = path.resolve(env.RAPID_DATA_DIR || './data');
  const redisUrl = env.REDIS_URL || path.join(dataDir, 'redis', 'redis.sock');
  const name = env.RAPID_NODE_NAME || os.hostname();
  const { nodeUuid, sharedDir } = await clusterPlace(env, redisUrl, name);
  await retireWrittenNoopOs(path.join(dataDir, 'os'));
  const w = new NodeWorker({
    redisUrl, nodeName: name, nodeUuid,
    stateDir: path.join(dataDir, 'hv'),
    storageDir: env.RAPID_STORAGE_DIR || path.join(dataDir, 'storage'),
    // The operator's own definitions first, rapid's (noop, rapid-guest) last, so any site OS of the same name wins.
    osSearchPath: [path.join(dataDir, 'os'), ...(env.RAPID_OS_SEARCH_PATH?.split(':') ?? DEFAULT_OS_SEARCH_PATH), BUILTIN_OS_DIR],
    osLogDir: path.join(dataDir, 'log', 'os'),
    sharedStorageDir: sharedDir,
    exportDir: env.RAPID_EXPORT_DIR || path.join(dataDir, 'export'),
    kvmRunDir: path.join(dataDir, 'kvm'),
    drbdDir: env.RAPID_DRBD_DIR || path.join(dataDir, 'drbd'),
    kvmAccel: await resolveKvmAccel(env.RAPID_KVM_ACCEL, path.join(dataDir, 'kvm')),
    kvmTcgLiveMigration: env.RAPID_KVM_TCG_LIVE_MIGRATION === '1',
  });
  await w.start();
  const shutdown = () => void w.stop().then(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (env.RAPID_PARENT_PIPE === '1') {
    // The daemon that forked us closes this pipe when it dies: never outlive it.
    process.stdin.on('end', shutdown);
    process.stdin.resume();
  }
  console.log(`rapid-node: ready ${name}`);
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main().catch((err) => { console.error('rapid-node:', err instanceof Error ? err.message : err); process.exit(1); });
}
