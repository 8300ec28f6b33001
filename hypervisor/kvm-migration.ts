// Live migration of kvm guests, as Ganeti's hv_kvm does it: the source hands
// over its saved runtime, the target runs the same QEMU command line with
// `-incoming tcp:<ip>:<migration_port>`, the source streams the guest to it
// over QMP `migrate`, and each side then either keeps the guest (target) or
// lets go of it (source), or rolls back.
//
// The command line is the source's, not one built afresh from the
// configuration: the guest's virtual hardware (machine type, device slots,
// memory) must match exactly on both sides. Only what belongs to the host
// changes on the way: run-directory paths (pidfile, sockets, logs) and tap
// names, since two rapid nodes may share a host and its network namespace.
//
// One departure from Ganeti: QEMU before 9.0 loses track of memory a TCG
// (not KVM) guest writes during a live migration once the first pass is
// sent (upstream commit 03bfc2188f, "physmem: Fix migration dirty bitmap
// coherency with TCG memory access"), and the guest crashes on the target.
// Such a guest is stopped for the transfer (Ganeti's non-live mode) unless
// the node trusts its QEMU (tcgLiveMigration).
import fs from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { HypervisorFailure, type InstanceSpecLike, type MigrationStatus } from './driver.ts';
import { kvmPaths } from './kvm-cmdline.ts';
import type { KvmRuntimeFile } from './kvm.ts';
import type { QmpClient } from './qmp.ts';

/** What migration needs from the kvm driver; all of it acts on this node's run directory. */
export interface KvmMigrationHost {
  readonly runDir: string;
  readonly qmpTimeoutMs: number;
  /** Migrate TCG guests live even with a QEMU older than 9.0 (see the top of this file). */
  readonly tcgLiveMigration: boolean;
  /** The guest's QEMU, if it runs. */
  alive(name: string): Promise<{ pid: number } | null>;
  /** The driver's QMP connection to a running guest. */
  monitor(name: string): Promise<QmpClient>;
  readRuntime(name: string): Promise<KvmRuntimeFile | null>;
  /** Runs QEMU with the runtime's argv, or an incoming one (not continued: the migration starts it). */
  launch(name: string, rt: KvmRuntimeFile, incoming?: { host: string; port: number }): Promise<void>;
  /** The forced stop (SIGTERM, then SIGKILL): never a user shutdown; runtime files removed. */
  kill(name: string): Promise<void>;
}

/** hv_kvm._MIGRATION_INFO_MAX_BAD_ANSWERS and _MIGRATION_INFO_RETRY_DELAY. */
const MAX_BAD_ANSWERS = 5;
const BAD_ANSWER_DELAY_MS = 2_000;
/** hv_kvm._POSTCOPY_SYNC_COUNT_THRESHOLD: precopy passes before switching to postcopy. */
const POSTCOPY_SYNC_COUNT_THRESHOLD = 2;
/** hv_kvm._MIGRATION_CAPS_DELIM. */
const CAPS_DELIM = ':';
/** The target loads the last of the guest's state after the source reports completion. */
const INCOMING_SETTLE_MS = 30_000;
const MiB = 1024 * 1024;
/** The first QEMU whose TCG dirty tracking keeps up with a live migration. */
const TCG_LIVE_MIGRATION_QEMU_MAJOR = 9;

/** QEMU's transient phases of a running migration, which Ganeti's statuses do not name. */
const QEMU_ACTIVE_PHASES = new Set(['active', 'pre-switchover', 'device', 'wait-unplug', 'cancelling']);
const GANETI_STATUSES = new Set(['completed', 'failed', 'cancelled', 'setup', 'postcopy-active']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The part of QEMU's `query-migrate` answer that Ganeti reads. */
export interface QueryMigrate {
  status?: string;
  ram?: { transferred: number; total: number; 'dirty-sync-count'?: number };
}

/**
 * `query-migrate` as objects.MigrationStatus, or null for a status Ganeti
 * does not know (asked again). QEMU's short phases between "active" and
 * "completed" count as active: the master keeps polling through them.
 */
export function migrationStatusOf(q: QueryMigrate): MigrationStatus | null {
  const raw = q.status ?? '';
  const status = QEMU_ACTIVE_PHASES.has(raw) ? 'active' : GANETI_STATUSES.has(raw) ? raw as MigrationStatus['status'] : null;
  if (!status) return null;
  const out: MigrationStatus = { status };
  if (q.ram) {
    out.transferred_ram = q.ram.transferred;
    out.total_ram = q.ram.total;
  }
  return out;
}

/** kvm_migration_caps: QEMU capability names separated by colons. */
export function migrationCaps(hvparams: Record<string, unknown>): string[] {
  return String(hvparams.migration_caps ?? '').split(CAPS_DELIM).filter(Boolean);
}

/** `tcp:<host>:<port>`, the form both `-incoming` and `migrate` take (IPv6 in brackets). */
export function migrationUri(host: string, port: number): string {
  return `tcp:${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/**
 * The argv the target runs: the saved one without -S (a migrated guest runs
 * on as soon as its state has arrived, Ganeti's `start_kvm_paused = ... and
 * not incoming`) and with -incoming.
 */
export function incomingArgv(argv: string[], host: string, port: number): string[] {
  return [...argv.filter((a) => a !== '-S'), '-incoming', migrationUri(host, port)];
}

/** Where the saved argv puts the source's run directory: `-pidfile <runDir>/pid/<name>`. */
function sourceRunDir(rt: KvmRuntimeFile, name: string): string {
  const i = rt.argv.indexOf('-pidfile');
  const pidfile = i >= 0 ? rt.argv[i + 1] : undefined;
  if (!pidfile || path.basename(pidfile) !== name || path.basename(path.dirname(pidfile)) !== 'pid') {
    throw new HypervisorFailure(`Failed to load KVM runtime of ${name}: its command line has no -pidfile in a kvm run directory`);
  }
  return path.dirname(path.dirname(pidfile));
}

/** Escaped as QEMU option values are (kvm-cmdline.ts q()). */
const optionValue = (s: string) => s.replace(/,/g, ',,');

/**
 * The source's runtime made this node's: its run-directory paths moved to
 * `runDir`, and each tap renamed when `tapTaken` says its name is in use
 * here (the source QEMU holds it: both nodes share a network namespace).
 * A tap `rt…` becomes `rm…` and back, so a guest can migrate to and fro.
 */
export function localizeRuntime(rt: KvmRuntimeFile, name: string, runDir: string, tapTaken: (tap: string) => boolean): KvmRuntimeFile {
  const from = kvmPaths(sourceRunDir(rt, name), name);
  const to = kvmPaths(runDir, name);
  const moves: [string, string][] = [];
  if (from.pidfile !== to.pidfile) {
    for (const k of Object.keys(from) as (keyof typeof from)[]) {
      moves.push([from[k], to[k]]);
      if (optionValue(from[k]) !== from[k]) moves.push([optionValue(from[k]), optionValue(to[k])]);
    }
    // Longest first, so no path is replaced inside a longer one.
    moves.sort((a, b) => b[0].length - a[0].length);
  }
  const nics = rt.nics.map((nic) => ({ ...nic, tap: tapTaken(nic.tap) ? twinTap(nic.tap) : nic.tap }));
  const argv = rt.argv.map((arg) => {
    for (const [a, b] of moves) arg = arg.split(a).join(b);
    return arg;
  });
  // Taps appear only in `-netdev tap,...,ifname=<tap>,...`.
  rt.nics.forEach((nic, i) => {
    if (nic.tap === nics[i]!.tap) return;
    const j = argv.findIndex((a, k) => argv[k - 1] === '-netdev' && a.split(',').includes(`ifname=${nic.tap}`));
    if (j < 0) throw new HypervisorFailure(`Failed to load KVM runtime of ${name}: no -netdev for tap ${nic.tap}`);
    argv[j] = argv[j]!.split(',').map((o) => (o === `ifname=${nic.tap}` ? `ifname=${nics[i]!.tap}` : o)).join(',');
  });
  return { ...rt, argv, nics };
}

function twinTap(tap: string): string {
  return tap.startsWith('rm') ? `rt${tap.slice(2)}` : `rm${tap.slice(2)}`;
}

/** Migration info from the source is JSON from another node: check its shape before running it. */
function runtimeFromInfo(info: unknown, name: string): KvmRuntimeFile {
  const rt = info as KvmRuntimeFile | null;
  if (!rt || !Array.isArray(rt.argv) || !rt.argv.every((a) => typeof a === 'string') || !Array.isArray(rt.nics)
    || typeof rt.hvparams !== 'object' || rt.hvparams === null) {
    throw new HypervisorFailure(`Failed to load KVM runtime of ${name}: the migration information is not a kvm runtime`);
  }
  return rt;
}

const interfaceExists = (name: string) => fs.existsSync(`/sys/class/net/${name}`);

export class KvmMigration {
  constructor(private host: KvmMigrationHost) {}

  /** hv_kvm.MigrationInfo: the saved runtime. */
  async info(spec: InstanceSpecLike): Promise<KvmRuntimeFile> {
    const rt = await this.host.readRuntime(spec.name);
    if (!rt) throw new HypervisorFailure(`Failed to load KVM runtime file: ${kvmPaths(this.host.runDir, spec.name).runtime} is missing`);
    return rt;
  }

  /** hv_kvm.AcceptInstance: the source's QEMU, made local, waiting on `target`:migration_port. */
  /** `diskMoves`: disk paths of the source to replace by this node's (a replicated disk is reached through the local replica). */
  async accept(spec: InstanceSpecLike, info: unknown, target: string, diskMoves: [string, string][] = []): Promise<void> {
    const name = spec.name;
    if (await this.host.alive(name)) throw new HypervisorFailure(`Failed to start instance ${name}: already running`);
    const local = localizeRuntime(runtimeFromInfo(info, name), name, this.host.runDir, interfaceExists);
    const rt = { ...local, argv: local.argv.map((a) => diskMoves.reduce((arg, [from, to]) => arg.split(from).join(to), a)) };
    for (const nic of rt.nics) {
      if (!fs.existsSync(`/sys/class/net/${nic.link}/bridge`)) throw new HypervisorFailure(`Failed to start instance ${name}: bridge '${nic.link}' does not exist on this node`);
    }
    await this.host.launch(name, rt, { host: target, port: Number(spec.hvparams.migration_port) });
    try {
      await this.setCaps(name, spec, true);
    } catch (err) {
      await this.host.kill(name);
      throw err;
    }
  }

  /** hv_kvm.MigrateInstance: parameters, capabilities, and the stream to the target. */
  async migrate(spec: InstanceSpecLike, target: string, live: boolean): Promise<void> {
    const name = spec.name;
    if (!(await this.host.alive(name))) throw new HypervisorFailure('Instance not running, cannot migrate');
    const hvp = spec.hvparams;
    if (live && !this.host.tcgLiveMigration && (await this.tcgLosesPages(name))) {
      console.warn(`rapid-node: instance ${name} runs under TCG on a QEMU that loses pages written during a live migration; stopping it for the transfer`);
      live = false;
    }
    await this.qmp(name, (q, o) => (live ? Promise.resolve() : q.execute('stop', undefined, o)));
    const bandwidth = Number(hvp.migration_bandwidth) * MiB;
    await this.qmp(name, (q, o) => q.execute('migrate-set-parameters', {
      'max-bandwidth': bandwidth, 'downtime-limit': Number(hvp.migration_downtime), 'max-postcopy-bandwidth': bandwidth,
    }, o));
    await this.setCaps(name, spec, true);
    await this.qmp(name, (q, o) => q.execute('migrate', { uri: migrationUri(target, Number(hvp.migration_port)) }, o));
  }

  /**
   * hv_kvm.GetMigrationStatus: `query-migrate`, asked again after an answer
   * Ganeti cannot read; switches to postcopy after a few precopy passes
   * when the postcopy-ram capability is on.
   */
  async status(spec: InstanceSpecLike): Promise<MigrationStatus> {
    const name = spec.name;
    for (let i = 0; i < MAX_BAD_ANSWERS; i++) {
      const q = await this.qmp(name, (c, o) => c.execute<QueryMigrate>('query-migrate', undefined, o));
      const st = migrationStatusOf(q);
      if (st) {
        const postcopy = migrationCaps(spec.hvparams).some((c) => c.includes('postcopy-ram'));
        if (postcopy && st.status === 'active' && (q.ram?.['dirty-sync-count'] ?? 0) >= POSTCOPY_SYNC_COUNT_THRESHOLD) {
          // Asynchronous in QEMU: the next query may still say active, and asking twice is refused.
          await this.qmp(name, (c, o) => c.execute('migrate-start-postcopy', undefined, o)).catch(() => undefined);
          console.log(`rapid-node: switched live migration for instance ${name} to postcopy mode`);
          st.status = 'postcopy-active';
        }
        return st;
      }
      console.warn(`rapid-node: KVM: unknown migration status '${q.status}' of ${name}`);
      await sleep(BAD_ANSWER_DELAY_MS);
    }
    return { status: 'failed' };
  }

  /**
   * hv_kvm.FinalizeMigrationDst. Success: the guest runs here. QEMU resumes
   * it by itself after a live migration but keeps it paused after a non-live
   * one (the source was stopped), so it is continued then, unless it was
   * started paused. Its runtime file is already the one to keep: accept
   * saved it, localized, when it ran QEMU. Failure: the incoming QEMU goes.
   */
  async finalizeDst(spec: InstanceSpecLike, success: boolean): Promise<void> {
    const name = spec.name;
    if (!success) {
      await this.host.kill(name);
      return;
    }
    const rt = await this.host.readRuntime(name);
    if (!rt) throw new HypervisorFailure(`Failed to load KVM runtime file: ${kvmPaths(this.host.runDir, name).runtime} is missing`);
    const state = await this.settled(name);
    await this.setCaps(name, spec, false);
    if (state === 'paused' && !rt.paused) await this.qmp(name, (q, o) => q.execute('cont', undefined, o));
  }

  /**
   * hv_kvm.FinalizeMigrationSource. Success: the source QEMU (paused in
   * postmigrate) is killed and its runtime files removed. Failure: the guest
   * runs on here (continued if the migration stopped it).
   */
  async finalizeSrc(spec: InstanceSpecLike, success: boolean): Promise<void> {
    const name = spec.name;
    if (success) {
      await this.host.kill(name);
      return;
    }
    if (!(await this.host.alive(name))) {
      // hv_kvm.CleanupInstance: whatever is left of a guest that died meanwhile.
      await this.host.kill(name);
      return;
    }
    // Ganeti does not cancel; a stream still running would fight the `cont` and the target's removal.
    const q = await this.qmp(name, (c, o) => c.execute<QueryMigrate>('query-migrate', undefined, o));
    if (q.status && QEMU_ACTIVE_PHASES.has(q.status) && q.status !== 'cancelling') {
      await this.qmp(name, (c, o) => c.execute('migrate_cancel', undefined, o));
    }
    const st = await this.qmp(name, (c, o) => c.execute<{ status: string }>('query-status', undefined, o));
    if (st.status !== 'running') await this.qmp(name, (c, o) => c.execute('cont', undefined, o));
    await this.setCaps(name, spec, false);
  }

  /** The guest runs under TCG on a QEMU without the dirty-tracking fix (see the top of this file). */
  private async tcgLosesPages(name: string): Promise<boolean> {
    const q = await this.host.monitor(name);
    if (q.greeting.QMP.version.qemu.major >= TCG_LIVE_MIGRATION_QEMU_MAJOR) return false;
    return !(await this.qmp(name, (c, o) => c.execute<{ enabled: boolean }>('query-kvm', undefined, o))).enabled;
  }

  /** The incoming QEMU's run state once the migration's last bytes are in. */
  private async settled(name: string): Promise<string> {
    const end = Date.now() + INCOMING_SETTLE_MS;
    for (;;) {
      if (!(await this.host.alive(name))) throw new HypervisorFailure(`Instance ${name} is not running after its incoming migration`);
      const st = await this.qmp(name, (q, o) => q.execute<{ status: string }>('query-status', undefined, o));
      if (st.status !== 'inmigrate') return st.status;
      if (Date.now() > end) throw new HypervisorFailure(`Instance ${name} is still waiting for its incoming migration`);
      await sleep(20);
    }
  }

  /** hv_kvm._SetInstanceMigrationCapabilities / _ClearInstanceMigrationCapabilities. */
  private async setCaps(name: string, spec: InstanceSpecLike, state: boolean): Promise<void> {
    const caps = migrationCaps(spec.hvparams);
    if (!caps.length) return;
    await this.qmp(name, (q, o) => q.execute('migrate-set-capabilities', {
      capabilities: caps.map((capability) => ({ capability, state })),
    }, o));
  }

  /** One QMP command on the guest's monitor; QEMU's refusals are hypervisor failures. */
  private async qmp<T>(name: string, fn: (q: QmpClient, o: { timeoutMs: number }) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.host.monitor(name), { timeoutMs: this.host.qmpTimeoutMs });
    } catch (err) {
      throw err instanceof HypervisorFailure ? err : new HypervisorFailure(`Instance ${name}: ${(err as Error).message}`);
    }
  }
}
