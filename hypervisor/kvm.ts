// Ganeti's KVM hypervisor on a rapid node: every guest is a daemonized QEMU
// process, so guests outlive the node worker; a restarted worker finds them
// again from its run directory and takes over their monitors.
//
// Run directory (Ganeti's /var/run/ganeti/kvm-hypervisor, same names):
//   pid/<inst>            QEMU's -pidfile
//   ctrl/<inst>.qmp       QMP, held open by this driver (one client at a time)
//   ctrl/<inst>.kvmd      the second QMP socket, left free for diagnostics
//   ctrl/<inst>.monitor   HMP
//   ctrl/<inst>.serial    serial console (also logged to log/<inst>.serial.log)
//   ctrl/<inst>.shutdown  the guest shut itself down (user_shutdown)
//   conf/<inst>.runtime   the argv, hvparams and NICs it was started with
//   log/<inst>.log        QEMU's own messages
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { InstanceRuntime } from '../src/model.ts';
import { HypervisorFailure, type HostInfo, type HotplugAction, type HypervisorDriver, type InstanceSpecLike, type MigrationStatus } from './driver.ts';
import { hostCpus, hostMemory, processAlive } from './host.ts';

export { processAlive };
import { buildKvmCommand, kvmPaths, KvmUnsupportedError, type KvmAccel, type KvmPaths, type QemuFacts } from './kvm-cmdline.ts';
import { clearSerialLog, readSerialLog } from './kvm-console.ts';
import { hotAddDisk, hotAddNic, hotDelDisk, hotDelNic, type HotplugDisk } from './kvm-hotplug.ts';
import { incomingArgv, KvmMigration } from './kvm-migration.ts';
import { validateKvmParameters, type KvmHostFacts } from './kvm-params.ts';
import { QmpClient, type QmpEvent } from './qmp.ts';

const execFileP = promisify(execFile);

export interface KvmOptions {
  runDir: string;
  /** Node setting; `auto` lets each instance's kvm_flag decide; a function decides at the first start (a boot probe). */
  accel?: KvmAccel | (() => Promise<KvmAccel>);
  /** backend.InstanceShutdown re-sends the ACPI power button this often. */
  powerdownIntervalMs?: number;
  /** SIGTERM to SIGKILL, when a guest is forced off. */
  killGraceMs?: number;
  /** Connecting to and commands on a guest's QMP socket. */
  qmpTimeoutMs?: number;
  /** A guest's QEMU went away (any reason), so the worker can report at once. */
  onExit?: (name: string) => void;
  /** Migrate TCG guests live even on a QEMU older than 9.0, which loses pages they write meanwhile (kvm-migration.ts). */
  tcgLiveMigration?: boolean;
}

/** Saved at start: what soft reboot re-runs, what stop and list need later, what migration hands over. */
export interface KvmRuntimeFile {
  argv: string[];
  hvparams: Record<string, unknown>;
  paused: boolean;
  nics: { tap: string; link: string }[];
  /** MiB the balloon leaves the guest (set by balloon(); the guest has -m otherwise). */
  balloonMiB?: number;
}

interface Monitor {
  qmp: QmpClient;
  /** Set while this driver stops the guest: its SHUTDOWN is not the user's. */
  stopping: boolean;
  /** kvmd: a SHUTDOWN after a POWERDOWN was asked for from outside the guest. */
  powerdown: boolean;
  /** MiB the balloon leaves the guest (its runtime file keeps it across worker restarts). */
  balloonMiB?: number;
}

interface Alive {
  pid: number;
  memory: number;
  vcpus: number;
}

const SERIAL_LOG_MAX = 1 << 20;
/** Instance names become file names; Ganeti's are host names. */
const VALID_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const UNIX_PATH_MAX = 107;

/** Linux caps interface names at 15 characters; this one is unique per NIC. */
export function tapName(nicUuid: string): string {
  return `rt${nicUuid.replace(/-/g, '').slice(0, 12)}`;
}

/** hv_kvm._InstancePidInfo: the instance name, memory and vCPUs from QEMU's command line. */
function pidInfo(pid: number): { name: string; memory: number; vcpus: number } | null {
  if (!processAlive(pid)) return null;
  let args: string[];
  try {
    args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
  let name: string | null = null;
  let memory = 0;
  let vcpus = 0;
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === '-name') name = args[i + 1]!;
    else if (args[i] === '-m') memory = parseInt(args[i + 1]!, 10) || 0;
    else if (args[i] === '-smp') vcpus = parseInt(args[i + 1]!.split(',')[0]!, 10) || 0;
  }
  return name === null ? null : { name, memory, vcpus };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KvmHypervisor implements HypervisorDriver {
  readonly name = 'kvm';
  /** The node's accelerator setting, decided once (a probe may take seconds). */
  private readonly accel: () => Promise<KvmAccel>;
  private readonly powerdownIntervalMs: number;
  private readonly killGraceMs: number;
  private readonly qmpTimeoutMs: number;
  private monitors = new Map<string, Monitor>();
  /** Attaching a monitor in progress, so list() and start() never race for the socket. */
  private attaching = new Map<string, Promise<Monitor | null>>();
  private locks = new Map<string, Promise<unknown>>();
  private facts = new Map<string, Promise<QemuFacts>>();
  /** After close(), list() adopts nothing. */
  private closing = false;
  private readonly migration: KvmMigration;

  constructor(private o: KvmOptions) {
    const setting = o.accel ?? 'auto';
    let decided: Promise<KvmAccel> | undefined;
    this.accel = typeof setting === 'function' ? () => (decided ??= setting()) : () => Promise.resolve(setting);
    this.powerdownIntervalMs = o.powerdownIntervalMs ?? 5_000;
    this.killGraceMs = o.killGraceMs ?? 5_000;
    this.qmpTimeoutMs = o.qmpTimeoutMs ?? 10_000;
    this.migration = new KvmMigration({
      runDir: o.runDir,
      qmpTimeoutMs: this.qmpTimeoutMs,
      tcgLiveMigration: o.tcgLiveMigration ?? false,
      alive: (name) => this.alive(name),
      monitor: async (name) => (this.monitors.get(name) ?? (await this.attach(name, true)))!.qmp,
      readRuntime: (name) => this.readRuntime(name),
      launch: (name, rt, incoming) => this.launch(name, rt, incoming),
      kill: async (name) => {
        const a = await this.alive(name);
        if (a) await this.forceOff(name, a.pid);
        await this.removeRuntimeFiles(name);
      },
    });
  }

  paths(name: string): KvmPaths & { runtime: string; shutdown: string } {
    if (!VALID_NAME.test(name)) throw new HypervisorFailure(`Invalid instance name '${name}'`);
    return kvmPaths(this.o.runDir, name);
  }

  /** The guest's QEMU process id while it runs. */
  async pid(name: string): Promise<number | null> {
    return (await this.alive(name))?.pid ?? null;
  }

  // --- HypervisorDriver --------------------------------------------------------

  async list(): Promise<Record<string, InstanceRuntime>> {
    const names = new Set<string>();
    for (const f of await readdir(path.join(this.o.runDir, 'pid')).catch(() => [] as string[])) names.add(f);
    // Runtime files also name guests that exited by themselves (QEMU removes its pidfile).
    for (const f of await readdir(path.join(this.o.runDir, 'conf')).catch(() => [] as string[])) {
      if (f.endsWith('.runtime')) names.add(f.slice(0, -'.runtime'.length));
    }
    const out: Record<string, InstanceRuntime> = {};
    for (const name of names) {
      if (!VALID_NAME.test(name)) continue;
      const a = await this.alive(name);
      if (a) {
        // hv_kvm reports every live guest as running, paused ones too; memory as the balloon left it.
        out[name] = { state: 'running', memory: this.monitors.get(name)?.balloonMiB ?? a.memory, vcpus: a.vcpus };
        if (!this.closing && !this.monitors.has(name) && !this.locks.has(name)) void this.attach(name);
      } else if (fs.existsSync(this.paths(name).shutdown)) {
        out[name] = { state: 'user_down', memory: 0, vcpus: 0 };
      }
    }
    return out;
  }

  start(spec: InstanceSpecLike, opts: { paused: boolean; diskPaths: string[] }): Promise<void> {
    return this.locked(spec.name, () => this.startLocked(spec, opts));
  }

  stop(name: string, timeout: number): Promise<void> {
    return this.locked(name, () => this.stopLocked(name, timeout));
  }

  /**
   * backend.InstanceReboot. soft is hv_kvm.RebootInstance: the guest is
   * powered down and killed at once (Ganeti's StopInstance returns None, so
   * the forced stop always follows), then the saved command line runs again.
   * hard is InstanceShutdown with the timeout, then a start from the current
   * configuration.
   */
  reboot(spec: InstanceSpecLike, type: 'soft' | 'hard', timeout: number, diskPaths: string[]): Promise<void> {
    return this.locked(spec.name, async () => {
      if (!(await this.alive(spec.name))) throw new HypervisorFailure(`Cannot reboot instance '${spec.name}' that is not running`);
      try {
        if (type === 'soft') {
          const rt = await this.readRuntime(spec.name);
          if (!rt) throw new HypervisorFailure(`Failed to load KVM runtime file: ${this.paths(spec.name).runtime} is missing`);
          await this.stopLocked(spec.name, 0, true);
          await this.launch(spec.name, rt);
        } else {
          await this.stopLocked(spec.name, timeout);
          await this.startLocked(spec, { paused: false, diskPaths });
        }
      } catch (err) {
        throw new HypervisorFailure(`Failed to ${type} reboot instance '${spec.name}': ${(err as Error).message}`);
      }
    });
  }

  /** hv_base.GetLinuxNodeInfo: the host's memory; guests' memory is already used there. */
  async hostInfo(): Promise<HostInfo> {
    const mem = await hostMemory();
    const guests = Object.values(await this.list()).reduce((a, r) => a + r.memory, 0);
    return { mtotal: mem.total, mnode: Math.max(0, mem.total - mem.available - guests), mfree: mem.available, ...hostCpus() };
  }

  /** Ganeti's HotplugDevice: disks and NICs, added or removed; a modified NIC is removed and added again. */
  hotplug(spec: InstanceSpecLike, action: HotplugAction, target: 'disk' | 'nic', device: unknown): Promise<void> {
    return this.locked(spec.name, async () => {
      if (!(await this.alive(spec.name))) throw new HypervisorFailure(`Cannot hotplug into instance ${spec.name}: it is not running`);
      const rt = await this.readRuntime(spec.name);
      if (!rt) throw new HypervisorFailure(`Failed to load KVM runtime file: ${this.paths(spec.name).runtime} is missing`);
      const m = this.monitors.get(spec.name) ?? (await this.attach(spec.name, true));
      const qmp = m!.qmp;
      let next: KvmRuntimeFile;
      if (target === 'disk') {
        const d = device as HotplugDisk;
        if (action === 'hotmod') throw new HypervisorFailure('Hotplug action hotmod is not supported for disks');
        next = action === 'hotadd' ? await hotAddDisk(qmp, rt, d, this.qmpTimeoutMs) : await hotDelDisk(qmp, rt, d.uuid, this.qmpTimeoutMs);
      } else {
        const n = device as { uuid: string; mac: string; mode: unknown; link: unknown };
        if (n.mode !== 'bridged') throw new KvmUnsupportedError('NIC mode', n.mode, 'only bridged NICs are implemented', '');
        const link = String(n.link ?? '');
        if (action !== 'hotremove' && !fs.existsSync(`/sys/class/net/${link}/bridge`)) throw new HypervisorFailure(`Cannot hotplug NIC: bridge '${link}' does not exist on this node`);
        const nic = { uuid: n.uuid, mac: n.mac, tap: tapName(n.uuid), link };
        // A migration may have renamed the tap: the saved runtime knows it.
        const saved = rt.nics.find((x) => x.tap === nic.tap || x.tap === `rm${nic.tap.slice(2)}`);
        next = rt;
        if (action !== 'hotadd') next = await hotDelNic(qmp, next, { uuid: n.uuid, tap: saved?.tap ?? nic.tap }, this.qmpTimeoutMs);
        if (action !== 'hotremove') next = await hotAddNic(qmp, next, nic, this.qmpTimeoutMs);
      }
      await writeAtomic(this.paths(spec.name).runtime, JSON.stringify(next));
    });
  }

  /** QMP block_resize on the drive backed by `diskPath`; virtio-blk tells the guest at once. */
  diskGrown(name: string, diskPath: string, bytes: number): Promise<void> {
    return this.locked(name, async () => {
      if (!(await this.alive(name))) return;
      const m = this.monitors.get(name) ?? (await this.attach(name, true));
      const blocks = (await m!.qmp.execute('query-block', undefined, { timeoutMs: this.qmpTimeoutMs })) as { device: string; inserted?: { file: string } }[];
      const drive = blocks.find((b) => b.inserted && path.resolve(b.inserted.file) === path.resolve(diskPath));
      if (!drive) throw new HypervisorFailure(`Instance ${name} has no drive for ${diskPath}`);
      await m!.qmp.execute('block_resize', { device: drive.device, size: bytes }, { timeoutMs: this.qmpTimeoutMs });
    });
  }

  consoleOutput(name: string, length: number): Promise<Buffer> {
    this.paths(name);
    return readSerialLog(this.o.runDir, name, length);
  }

  clearConsoleOutput(name: string): Promise<void> {
    this.paths(name);
    return clearSerialLog(this.o.runDir, name);
  }

  /** hv_kvm.BalloonInstanceMemory: the virtio balloon gives the guest `memory` MiB of its -m. */
  balloon(spec: InstanceSpecLike, memory: number): Promise<void> {
    return this.locked(spec.name, async () => {
      const a = await this.alive(spec.name);
      if (!a) throw new HypervisorFailure(`Cannot balloon instance ${spec.name}: it is not running`);
      if (!(memory > 0 && memory <= a.memory)) throw new HypervisorFailure(`Cannot balloon instance ${spec.name} to ${memory} MiB: it has ${a.memory} MiB`);
      const m = this.monitors.get(spec.name) ?? (await this.attach(spec.name, true));
      await m!.qmp.execute('balloon', { value: memory * 2 ** 20 }, { timeoutMs: this.qmpTimeoutMs });
      const balloonMiB = memory === a.memory ? undefined : memory;
      m!.balloonMiB = balloonMiB;
      const rt = await this.readRuntime(spec.name);
      if (rt) await writeAtomic(this.paths(spec.name).runtime, JSON.stringify({ ...rt, balloonMiB }));
    });
  }

  // Live migration: kvm-migration.ts, one step at a time per guest like every other operation.

  migrationInfo(spec: InstanceSpecLike): Promise<unknown> {
    return this.locked(spec.name, () => this.migration.info(spec));
  }

  acceptInstance(spec: InstanceSpecLike, info: unknown, targetIp: string, diskMoves?: [string, string][]): Promise<void> {
    return this.locked(spec.name, () => this.migration.accept(spec, info, targetIp, diskMoves));
  }

  migrateInstance(spec: InstanceSpecLike, targetIp: string, live: boolean): Promise<void> {
    return this.locked(spec.name, () => this.migration.migrate(spec, targetIp, live));
  }

  migrationStatus(spec: InstanceSpecLike): Promise<MigrationStatus> {
    return this.locked(spec.name, () => this.migration.status(spec));
  }

  finalizeMigrationDst(spec: InstanceSpecLike, _info: unknown, success: boolean): Promise<void> {
    return this.locked(spec.name, () => this.migration.finalizeDst(spec, success));
  }

  finalizeMigrationSource(spec: InstanceSpecLike, success: boolean): Promise<void> {
    return this.locked(spec.name, () => this.migration.finalizeSrc(spec, success));
  }

  /** Lets go of every monitor; guests keep running (a worker's orderly exit). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.attaching.values()]);
    const monitors = [...this.monitors.values()];
    this.monitors.clear();
    await Promise.all(monitors.map((m) => m.qmp.close()));
  }

  // --- internals -----------------------------------------------------------------

  /** One operation per instance at a time (list() only reads). */
  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    const tail = next.catch(() => undefined);
    this.locks.set(name, tail);
    void tail.then(() => { if (this.locks.get(name) === tail) this.locks.delete(name); });
    return next;
  }

  /** hv_kvm._InstancePidAlive: the pidfile's process is a QEMU named after the instance. */
  private async alive(name: string): Promise<Alive | null> {
    const text = await readFile(this.paths(name).pidfile, 'utf8').catch(() => '');
    const pid = parseInt(text, 10);
    if (!(pid > 0)) return null;
    const info = pidInfo(pid);
    return info && info.name === name ? { pid, memory: info.memory, vcpus: info.vcpus } : null;
  }

  private async readRuntime(name: string): Promise<KvmRuntimeFile | null> {
    try {
      return JSON.parse(await readFile(this.paths(name).runtime, 'utf8')) as KvmRuntimeFile;
    } catch {
      return null;
    }
  }

  private async startLocked(spec: InstanceSpecLike, opts: { paused: boolean; diskPaths: string[] }): Promise<void> {
    const name = spec.name;
    if (await this.alive(name)) throw new HypervisorFailure(`Failed to start instance ${name}: already running`);
    const p = this.paths(name);
    for (const f of [p.qmp, p.kvmd, p.monitor, p.serial, p.qga]) {
      if (Buffer.byteLength(f) > UNIX_PATH_MAX) {
        throw new HypervisorFailure(`Failed to start instance ${name}: socket path ${f} is longer than ${UNIX_PATH_MAX} bytes; use a shorter run directory or instance name`);
      }
    }
    const hvp = spec.hvparams;
    const qemu = await this.qemuFacts(String(hvp.kvm_path));
    validateKvmParameters(hvp, hostFacts(qemu.machineHelp));
    const nics = spec.nics.map((n, i) => {
      if (n.mode !== 'bridged') throw new KvmUnsupportedError(`NIC ${i} mode`, n.mode, 'only bridged NICs are implemented', '');
      const link = String(n.link ?? '');
      if (!fs.existsSync(`/sys/class/net/${link}/bridge`)) throw new HypervisorFailure(`Failed to start instance ${name}: bridge '${link}' does not exist on this node`);
      const uuid = n.uuid ?? `${name}-nic${i}`;
      return { uuid, mac: n.mac, tap: tapName(uuid), link };
    });
    if (opts.diskPaths.length !== spec.disks.length) throw new HypervisorFailure(`Failed to start instance ${name}: ${spec.disks.length} disks but ${opts.diskPaths.length} paths`);
    const argv = buildKvmCommand({
      instance: {
        name, uuid: spec.uuid ?? name, hvparams: hvp, beparams: spec.beparams,
        network_port: spec.network_port ?? null,
        disks: spec.disks.map((d, i) => ({ uuid: d.uuid, mode: d.mode, path: opts.diskPaths[i]!, template: templateOf(d.logical_id, spec) })),
        nics,
      },
      paths: p, qemu, accel: await this.accel(), paused: true, daemonize: true,
      interfaceIPv4: interfaceIPv4,
    });
    await this.launch(name, { argv, hvparams: hvp, paused: opts.paused, nics: nics.map(({ tap, link }) => ({ tap, link })) });
  }

  /**
   * hv_kvm._ExecuteKVMRuntime after the argv exists: run, set up, continue.
   * `incoming`: a migration target, which waits for the guest's state instead
   * (the runtime saved is still the plain one, for later soft reboots).
   */
  private async launch(name: string, rt: KvmRuntimeFile, incoming?: { host: string; port: number }): Promise<void> {
    const p = this.paths(name);
    await Promise.all(['pid', 'ctrl', 'conf', 'log'].map((d) => mkdir(path.join(this.o.runDir, d), { recursive: true })));
    await this.removeRuntimeFiles(name);
    // A new QEMU has all its memory; an incoming guest brings its balloon along.
    await writeAtomic(p.runtime, JSON.stringify(incoming ? rt : { ...rt, balloonMiB: undefined }));
    const size = (await stat(p.serialLog).catch(() => null))?.size ?? 0;
    if (size > SERIAL_LOG_MAX) await rename(p.serialLog, `${p.serialLog}.old`);

    // QEMU's messages (before and after -daemonize, with -D) go to the log;
    // no pipe, which the daemon would keep open for its whole life.
    const log = await open(p.log, 'a');
    let code: number | null;
    try {
      code = await new Promise<number | null>((resolve, reject) => {
        const argv = incoming ? incomingArgv(rt.argv, incoming.host, incoming.port) : rt.argv;
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log.fd, log.fd] });
        child.once('error', reject);
        child.once('exit', (c, sig) => resolve(sig ? 128 : c));
      });
    } catch (err) {
      await this.removeRuntimeFiles(name);
      throw new HypervisorFailure(`Failed to start instance ${name}: ${(err as Error).message}`);
    } finally {
      await log.close();
    }
    if (code !== 0) {
      const output = (await readFile(p.log, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
      await this.removeRuntimeFiles(name);
      throw new HypervisorFailure(`Failed to start instance ${name}: exited with exit code ${code} (${output})`);
    }
    const a = await this.alive(name);
    if (!a) {
      await this.removeRuntimeFiles(name);
      throw new HypervisorFailure(`Failed to start instance ${name}`);
    }
    try {
      for (const nic of rt.nics) {
        // QEMU made the tap (ifname=); it goes with QEMU, so only the bridge port is ours to set.
        await execFileP('ip', ['link', 'set', 'dev', nic.tap, 'master', nic.link, 'up']);
      }
      const m = await this.attach(name, true);
      if (!m) throw new HypervisorFailure(`Failed to start instance ${name}: its QMP socket does not answer`);
      if (rt.hvparams.vnc_password_file) {
        const pw = (await readFile(String(rt.hvparams.vnc_password_file), 'utf8')).split('\n')[0]!;
        await m.qmp.execute('set_password', { protocol: 'vnc', password: pw }, { timeoutMs: this.qmpTimeoutMs });
      }
      if (!rt.paused && !incoming) await m.qmp.execute('cont', undefined, { timeoutMs: this.qmpTimeoutMs });
    } catch (err) {
      await this.forceOff(name, a.pid);
      await this.removeRuntimeFiles(name);
      throw err instanceof HypervisorFailure ? err : new HypervisorFailure(`Failed to start instance ${name}: ${(err as Error).message}`);
    }
  }

  /**
   * Takes the guest's QMP socket. `required`: the caller just started QEMU
   * and waits for it; otherwise (adoption from list()) a busy socket is
   * tried again on a later call.
   */
  private attach(name: string, required = false): Promise<Monitor | null> {
    const existing = this.monitors.get(name);
    if (existing?.qmp.open) return Promise.resolve(existing);
    const pending = this.attaching.get(name);
    if (pending) return pending;
    const job = (async () => {
      try {
        const qmp = await QmpClient.connect(this.paths(name).qmp, { timeoutMs: required ? this.qmpTimeoutMs : 2_000 });
        const rt = await this.readRuntime(name);
        const m: Monitor = { qmp, stopping: false, powerdown: false, balloonMiB: rt?.balloonMiB };
        qmp.onEvent((e) => void this.onEvent(name, m, rt, e));
        void qmp.closed.then(() => {
          if (this.monitors.get(name) === m) {
            this.monitors.delete(name);
            this.o.onExit?.(name);
          }
        });
        this.monitors.set(name, m);
        return m;
      } catch (err) {
        if (required) throw err;
        return null;
      } finally {
        this.attaching.delete(name);
      }
    })();
    this.attaching.set(name, job);
    return job;
  }

  /** What kvmd does: a guest that powers itself off is "user down" (with user_shutdown). */
  private async onEvent(name: string, m: Monitor, rt: KvmRuntimeFile | null, e: QmpEvent): Promise<void> {
    if (e.event === 'POWERDOWN') m.powerdown = true;
    if (e.event === 'SHUTDOWN' && !m.stopping && !m.powerdown && e.data?.guest === true && rt?.hvparams.user_shutdown === true) {
      await writeFile(this.paths(name).shutdown, '').catch(() => undefined);
    }
  }

  /**
   * backend.InstanceShutdown + hv_kvm._StopInstance: with ACPI, the power
   * button every powerdownIntervalMs until the guest is gone or `timeout`
   * seconds passed; then (or without ACPI) the process is killed. `soft`:
   * hv_kvm.RebootInstance's stop, one power button press and the kill.
   */
  private async stopLocked(name: string, timeout: number, soft = false): Promise<void> {
    const a = await this.alive(name);
    if (a) {
      const rt = await this.readRuntime(name);
      const acpi = rt ? rt.hvparams.acpi !== false : true;
      const m = this.monitors.get(name) ?? (await this.attach(name));
      if (m) m.stopping = true;
      if (acpi && (timeout > 0 || soft)) {
        // Without the control socket (another process holds it), the diagnostic one serves.
        const qmp = m?.qmp ?? (await QmpClient.connect(this.paths(name).kvmd, { timeoutMs: 2_000 }).catch(() => null));
        const deadline = Date.now() + timeout * 1000;
        while (qmp) {
          const left = deadline - Date.now();
          await qmp.execute('system_powerdown', undefined, { timeoutMs: Math.max(500, Math.min(this.qmpTimeoutMs, left)) }).catch(() => undefined);
          if (soft || (await waitGone(a.pid, Math.min(this.powerdownIntervalMs, deadline - Date.now())))) break;
          if (Date.now() >= deadline) break;
        }
        if (qmp && qmp !== m?.qmp) qmp.destroy();
      }
      if (processAlive(a.pid)) await this.forceOff(name, a.pid);
    }
    await this.removeRuntimeFiles(name);
  }

  /** utils.KillProcess: SIGTERM, SIGKILL after the grace time. */
  private async forceOff(name: string, pid: number): Promise<void> {
    const m = this.monitors.get(name);
    if (m) m.stopping = true;
    const signal = (s: NodeJS.Signals) => { try { process.kill(pid, s); } catch { /* gone */ } };
    signal('SIGTERM');
    if (await waitGone(pid, this.killGraceMs)) return;
    signal('SIGKILL');
    if (!(await waitGone(pid, 5_000))) throw new HypervisorFailure(`Could not shutdown instance '${name}' even by destroy`);
  }

  /** hv_kvm._RemoveInstanceRuntimeFiles and _ClearUserShutdown; logs stay. */
  private async removeRuntimeFiles(name: string): Promise<void> {
    const m = this.monitors.get(name);
    if (m) {
      this.monitors.delete(name);
      m.qmp.destroy();
    }
    const p = this.paths(name);
    await Promise.all([p.pidfile, p.monitor, p.qmp, p.kvmd, p.serial, p.qga, p.shutdown, p.runtime].map((f) => rm(f, { force: true })));
  }

  /** `<kvm_path> -machine ?` and `-device ?`, once per binary. */
  private qemuFacts(binary: string): Promise<QemuFacts> {
    let f = this.facts.get(binary);
    if (!f) {
      const run = async (args: string[]) => {
        try {
          return (await execFileP(binary, args, { timeout: 10_000, maxBuffer: 8 << 20 })).stdout;
        } catch (err) {
          // -device ? fails on some builds but still lists devices (Ganeti accepts it).
          const out = (err as { stdout?: string }).stdout;
          if (args[0] === '-device' && out) return out;
          throw new HypervisorFailure(`Failed to run '${binary} ${args.join(' ')}': ${(err as Error).message}`);
        }
      };
      f = Promise.all([run(['-machine', 'help']), run(['-device', 'help'])]).then(([machineHelp, deviceHelp]) => ({ machineHelp, deviceHelp }));
      f.catch(() => this.facts.delete(binary));
      this.facts.set(binary, f);
    }
    return f;
  }
}

/** Polls until the process is gone (or a zombie); false when `ms` passed first. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + Math.max(0, ms);
  while (processAlive(pid)) {
    if (Date.now() >= end) return false;
    await sleep(25);
  }
  return true;
}

async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

function templateOf(logicalId: unknown, spec: InstanceSpecLike): string {
  return spec.disk_template ?? (Array.isArray(logicalId) ? String(logicalId[0]) : 'file');
}

function interfaceIPv4(name: string): string[] | undefined {
  if (!fs.existsSync(`/sys/class/net/${name}`)) return undefined;
  return (os.networkInterfaces()[name] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
}

function hostFacts(machineHelp: string): KvmHostFacts {
  const st = (p: string) => { try { return fs.statSync(p); } catch { return null; } };
  return {
    isFile: (p) => st(p)?.isFile() ?? false,
    isDir: (p) => st(p)?.isDirectory() ?? false,
    interfaceIPv4,
    userExists: (u) => {
      try {
        return fs.readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.split(':')[0] === u);
      } catch {
        return false;
      }
    },
    machineHelp,
  };
}
