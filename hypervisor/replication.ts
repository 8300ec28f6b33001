// Ganeti's `drbd` disk template without DRBD: the per-node manager of
// replicated disks. The kernel here has no DRBD, device-mapper or NBD, so
// replication happens in userspace, in one qemu-storage-daemon (QSD) per
// disk and node:
//
//   VM ──NBD──▶ QSD(primary) ── blockdev-mirror, write-blocking ──NBD/TCP──▶ QSD(secondary)
//                  │                                                            │
//              <uuid>.img                                                   <uuid>.img
//
// A write is acknowledged once it is on both copies (DRBD protocol C, minus
// flushes: the mirror does not forward FLUSH to the peer; `durable` makes
// the secondary write through instead). Each QSD serves NBD on the node's
// replication address and the disk's port from Ganeti's DRBD port pool
// (which stands for port and minor), with these exports:
//   <uuid>      the data, written by the primary's mirror  (secondary only)
//   <uuid>.md   the copy record (replication-meta.ts)      (secondary only)
//   <uuid>.vm   the data for the local VM                   (open disks only)
// so a mirror can only ever write into a secondary, and a VM can only open
// a disk that was opened (promoted) on its node.
//
// Resync, by how the pair came apart:
//  - peer lost (killed, link down): the mirror runs with
//    on-target-error=stop, so a failed write to the peer pauses the job
//    instead of ending it; the guest's write still succeeds locally and the
//    job's own dirty bitmap records what the peer missed. When the peer is
//    back with the same copy (by its generation), resuming the job copies
//    only those blocks: incremental.
//  - replication stopped on purpose (role swap, disconnect, shutdown, grow):
//    a dirty bitmap on the VM's node counts VM writes from before the stop
//    until the new mirror runs. Empty, and both copies carry the same
//    generation: sync=none. Otherwise a full resync.
//  - anything else (a restart of the primary's daemon, a different peer
//    copy, a stop while out of sync): full.
// QEMU 7.2's blockdev-mirror has no bitmap mode, and a point-in-time
// blockdev-backup of the changed blocks races with the guest's writes, so
// the incremental path relies on the paused job alone.
//
// Processes: every QSD is a daemon; a new manager adopts them from their
// pidfiles (qsd.ts) and carries on; the mirror never stops for it.
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { killQsd, Qsd, qsdPaths, type QsdOptions } from './qsd.ts';
import { blockdevs, DiskDaemon, inSync, isStopped, percent, ReplicationError, type ExportId, type MirrorJob } from './replication-daemon.ts';
import {
  bootId, encodeRecord, newGeneration, readMeta, readRecordFile, RECORD_SIZE, writeMeta, writeRecordFile,
  type CopyRecord, type DiskMeta,
} from './replication-meta.ts';
import { describe, inResync, type ReplicatedDiskStatus, type SyncMode } from './replication-status.ts';

export { ReplicationError, vmBlockdev, vmNbdUri, VM_RECONNECT_DELAY } from './replication-daemon.ts';
export type { DiskState } from './replication-meta.ts';
export {
  FIRST_DRBD_PORT, LAST_DRBD_PORT, LDS_FAULTY, LDS_OKAY, LDS_SYNC, LDS_UNKNOWN,
  type BlockDevStatus, type ConnState, type ReplicatedDiskStatus, type SyncMode,
} from './replication-status.ts';

const MIB = 2 ** 20;
const VALID_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VERIFY_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the cluster knows of one disk on this node (Ganeti's logical_id, seen from here). */
export interface DrbdDiskSpec {
  uuid: string;
  /** MiB. */
  size: number;
  /** From the cluster's DRBD port pool; both nodes listen on it. */
  port: number;
  /** This node's replication (secondary) address. */
  localIp: string;
  peerIp: string;
  /** KiB/s for resyncs (Ganeti's resync_rate disk parameter); 0 or unset: unlimited. */
  resyncRate?: number;
}

export interface ReplicationOptions {
  /** Disk images and their meta data (the node's "volume group"). */
  dataDir: string;
  /** Pidfiles and sockets of the storage daemons (`<runDir>/disk/`). */
  runDir: string;
  /** Start storage daemons in this network namespace; unset when the manager runs in the node's own. */
  netns?: string;
  binary?: string;
  /** The image files' AIO engine in QSD. */
  aio?: 'threads' | 'io_uring';
  /** The secondary writes through (each write on stable storage before it is acknowledged); slower. */
  durable?: boolean;
  qmpTimeoutMs?: number;
  /** How often primaries retry a lost peer, finish resyncs and publish progress; 0: only during calls. */
  tickMs?: number;
  /** How often a primary in sync checks the peer's copy record (DRBD's ping; default 10 s). */
  verifyMs?: number;
  /** Called with every storage daemon this manager starts (tests record them). */
  onDaemon?: (pid: number, uuid: string) => void;
}

export class ReplicatedDisks {
  private disks = new Map<string, DiskDaemon>();
  private locks = new Map<string, Promise<unknown>>();
  private scheduled = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private readonly qsdOptions: QsdOptions;

  constructor(private o: ReplicationOptions) {
    this.qsdOptions = { runDir: o.runDir, netns: o.netns, binary: o.binary, qmpTimeoutMs: o.qmpTimeoutMs };
    const tick = o.tickMs ?? 1_000;
    if (tick > 0) {
      this.timer = setInterval(() => this.tick(), tick);
      this.timer.unref();
    }
  }

  paths(uuid: string): { image: string; record: string; xfer: string; meta: string } {
    if (!VALID_UUID.test(uuid)) throw new ReplicationError(`Invalid disk id '${uuid}'`);
    const d = this.o.dataDir;
    return {
      image: path.join(d, `${uuid}.img`),
      record: path.join(d, `${uuid}.md`),
      xfer: path.join(d, `${uuid}.xfer`),
      meta: path.join(d, `${uuid}.meta.json`),
    };
  }

  // --- Ganeti's bdev/DRBD8 steps -------------------------------------------------

  /** bdev.Create: the data file (sparse) and its meta data; the copy starts Inconsistent. */
  create(spec: DrbdDiskSpec): Promise<void> {
    return this.locked(spec.uuid, async () => {
      checkSpec(spec);
      const p = this.paths(spec.uuid);
      await mkdir(this.o.dataDir, { recursive: true });
      if (await exists(p.meta)) throw new ReplicationError(`${p.meta}: disk ${spec.uuid} already exists`);
      const img = await open(p.image, 'wx').catch((err: Error) => {
        throw new ReplicationError(`${p.image}: can't create: ${err.message}`);
      });
      try {
        await img.truncate(spec.size * MIB);
      } finally {
        await img.close();
      }
      await writeFileBlock(p.record, encodeRecord({ generation: newGeneration(), disk: 'Inconsistent', by: 'self', at: Date.now() }));
      await writeFileBlock(p.xfer, Buffer.alloc(RECORD_SIZE));
      await writeMeta(p.meta, {
        uuid: spec.uuid, sizeBytes: spec.size * MIB, port: spec.port, localIp: spec.localIp, peerIp: spec.peerIp,
        resyncRate: spec.resyncRate ?? 0, role: 'secondary', open: false, connected: false,
        peerGeneration: null, resync: null, lastSync: null, clean: true, bootId: bootId(),
      });
    });
  }

  /**
   * bdev.Assemble (+ Open for the primary): the storage daemon runs, the
   * network is configured; a primary opens the disk for its VM and starts
   * replicating (without waiting for the resync; an absent peer is no
   * error, the disk runs WFConnection). `force` makes this copy the
   * authoritative one even if it is not UpToDate, as Ganeti does right after
   * creating a disk (DRBD's --overwrite-data-of-peer).
   */
  assemble(spec: DrbdDiskSpec, opts: { primary: boolean; force?: boolean }): Promise<ReplicatedDiskStatus> {
    return this.locked(spec.uuid, async () => {
      checkSpec(spec);
      const meta = await this.meta(spec.uuid);
      const held = await this.running(spec.uuid);
      if (held && (meta.localIp !== spec.localIp || meta.port !== spec.port)) {
        throw new ReplicationError(`Disk ${spec.uuid} is assembled on ${meta.localIp}:${meta.port}; shut it down before moving it to ${spec.localIp}:${spec.port}`);
      }
      // A new peer (replace-disks -n): the mirror to the old one ends; the new one gets its own resync.
      if (held && meta.peerIp !== spec.peerIp && meta.role === 'primary') await this.stopMirror(held, meta);
      Object.assign(meta, { port: spec.port, localIp: spec.localIp, peerIp: spec.peerIp, resyncRate: spec.resyncRate ?? meta.resyncRate });
      const d = held ?? (await this.start(meta));
      meta.connected = true;
      if (opts.primary) {
        await this.promoteLocked(d, meta, { force: opts.force ?? false, multimaster: false });
      } else {
        if (meta.role === 'primary') await this.demoteLocked(d, meta);
        await this.setExports(d, meta);
        await writeMeta(this.paths(meta.uuid).meta, meta);
      }
      return this.statusLocked(d, meta);
    });
  }

  /**
   * DRBD8.Open: make this copy primary. With `multimaster` (live migration)
   * the disk opens for a VM here while the peer still replicates into it;
   * otherwise this node takes over replication, which it refuses while the
   * peer is still writing here (demote the peer first).
   */
  promote(uuid: string, opts: { force?: boolean; multimaster?: boolean } = {}): Promise<ReplicatedDiskStatus> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const d = await this.requireRunning(meta);
      await this.promoteLocked(d, meta, { force: opts.force ?? false, multimaster: opts.multimaster ?? false });
      return this.statusLocked(d, meta);
    });
  }

  /** DRBD8.Close: back to secondary; replication stops here and the disk can be written only by a peer. */
  demote(uuid: string): Promise<ReplicatedDiskStatus> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const d = await this.requireRunning(meta);
      await this.demoteLocked(d, meta);
      await this.setExports(d, meta);
      await writeMeta(this.paths(uuid).meta, meta);
      return this.statusLocked(d, meta);
    });
  }

  /**
   * DrbdAttachNet: configure the network. A primary connects to the peer and
   * starts (or resumes) replicating, and answers how it resyncs; a secondary
   * accepts its peer again.
   */
  attachNet(uuid: string): Promise<{ sync: SyncMode | null; status: ReplicatedDiskStatus }> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const d = await this.requireRunning(meta);
      meta.connected = true;
      await writeMeta(this.paths(uuid).meta, meta);
      let sync: SyncMode | null = null;
      if (meta.role === 'primary') {
        const job = await d.job();
        if (!job) sync = await this.startMirror(d, meta);
        else if (isStopped(job)) sync = await this.resumeMirror(d, meta, job, 2_000);
        else sync = meta.resync ?? 'none';
      } else {
        await this.setExports(d, meta);
      }
      return { sync, status: await this.statusLocked(d, meta) };
    });
  }

  /** DrbdDisconnectNet: StandAlone. A primary stops replicating (writes go on locally); a secondary drops its peer. */
  disconnectNet(uuid: string): Promise<ReplicatedDiskStatus> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const d = await this.requireRunning(meta);
      meta.connected = false;
      if (meta.role === 'primary') await this.stopMirror(d, meta);
      await this.setExports(d, meta);
      await writeMeta(this.paths(uuid).meta, meta);
      return this.statusLocked(d, meta);
    });
  }

  /** GetSyncStatus; null when the disk is not assembled on this node. */
  status(uuid: string): Promise<ReplicatedDiskStatus | null> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const d = await this.running(meta.uuid);
      if (!d) return null;
      await this.reconcileLocked(d, meta).catch((err: Error) => { d.error = err.message; });
      return this.statusLocked(d, meta);
    });
  }

  /**
   * backend.DrbdWaitSync: waits (up to 15 s, as Ganeti) for each disk to be
   * connected or resyncing, then reports whether all are done and the lowest
   * sync percentage.
   */
  async drbdWaitSync(uuids: string[]): Promise<{ alldone: boolean; minResync: number }> {
    let alldone = true;
    let minResync = 100;
    for (const uuid of uuids) {
      const end = Date.now() + 15_000;
      let s: ReplicatedDiskStatus | null;
      for (;;) {
        s = await this.status(uuid);
        if (s && (s.cstate === 'Connected' || inResync(s.cstate))) break;
        if (Date.now() >= end) throw new ReplicationError(`DRBD device ${uuid} is not in sync: ${s ? s.cstate : 'not assembled'}`);
        await sleep(1_000);
      }
      alldone &&= !inResync(s.cstate);
      if (s.sync_percent !== null) minResync = Math.min(minResync, s.sync_percent);
    }
    return { alldone, minResync };
  }

  /** Polls until the disk is Connected and UpToDate (a primary's resync finished); throws after timeoutMs. */
  async waitInSync(uuid: string, timeoutMs: number, pollMs = 100): Promise<ReplicatedDiskStatus> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(uuid);
      if (s && !s.is_degraded && s.resync === null) return s;
      if (Date.now() >= end) {
        throw new ReplicationError(`Disk ${uuid} not in sync after ${timeoutMs} ms: ${s ? `${s.cstate}, ${s.ldisk}/${s.rdisk}, ${s.sync_percent ?? '-'}%${s.error ? `, ${s.error}` : ''}` : 'not assembled'}`);
      }
      await sleep(pollMs);
    }
  }

  /**
   * bdev.Grow, in Ganeti's two passes: `backingStore` grows this node's
   * file (Ganeti runs it on every node first; a secondary's daemon shows the
   * new size at once); without it, the "DRBD device" grows on the primary:
   * the mirror restarts on the new size, without a resync. Answers the new
   * size in bytes.
   */
  grow(uuid: string, amountMiB: number, opts: { dryRun: boolean; backingStore: boolean }): Promise<number> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const p = this.paths(uuid);
      if (!(amountMiB >= 0)) throw new ReplicationError(`${p.image}: can't grow by negative amount`);
      const d = await this.running(uuid);
      if (opts.backingStore) {
        const size = meta.sizeBytes + amountMiB * MIB;
        if (opts.dryRun) return size;
        const fh = await open(p.image, 'r+');
        try {
          if ((await fh.stat()).size < size) await fh.truncate(size);
        } finally {
          await fh.close();
        }
        meta.sizeBytes = size;
        await writeMeta(p.meta, meta);
        // The primary's link drops with the export: to it a short peer loss, resumed without a resync.
        if (d && meta.role === 'secondary') await this.resizeSecondary(d, meta);
        return size;
      }
      if (opts.dryRun || !d) return meta.sizeBytes;
      if (meta.role === 'secondary') await this.resizeSecondary(d, meta);
      else if ((await d.size()) < meta.sizeBytes) await this.resizePrimary(d, meta);
      return meta.sizeBytes;
    });
  }

  /**
   * bdev.Shutdown: the storage daemon stops, the data stays. A primary
   * records whether the peer has everything, so the next assemble can skip
   * the resync.
   */
  shutdown(uuid: string): Promise<void> {
    return this.locked(uuid, async () => {
      const meta = await this.meta(uuid);
      const d = await this.running(uuid);
      if (!d) return;
      if (meta.role === 'primary') await this.demoteLocked(d, meta, true);
      else if (meta.open) await this.closeDualPrimary(d, meta);
      await d.qsd.stop();
      this.forget(uuid, d);
      Object.assign(meta, { clean: true, open: false, connected: false });
      await writeMeta(this.paths(uuid).meta, meta);
    });
  }

  /** bdev.Remove: stop the storage daemon and delete the data and meta data. */
  remove(uuid: string): Promise<void> {
    return this.locked(uuid, async () => {
      const d = this.disks.get(uuid);
      if (d) {
        await d.qsd.stop();
        this.forget(uuid, d);
      } else {
        await killQsd(this.qsdOptions, uuid);
      }
      const p = this.paths(uuid);
      await Promise.all([p.image, p.record, p.xfer, p.meta, qsdPaths(this.o.runDir, uuid).log].map((f) => rm(f, { force: true })));
    });
  }

  /** Disks that have meta data on this node. */
  async list(): Promise<string[]> {
    const files = await readdir(this.o.dataDir).catch(() => [] as string[]);
    return files.filter((f) => f.endsWith('.meta.json')).map((f) => f.slice(0, -'.meta.json'.length)).sort();
  }

  /** After a restart of the manager: takes over every running storage daemon; answers their disks. */
  async adopt(): Promise<string[]> {
    const found: string[] = [];
    for (const uuid of await this.list()) {
      if (await this.locked(uuid, async () => !!(await this.running(uuid)))) {
        found.push(uuid);
        this.schedule(uuid, 0);
      }
    }
    return found;
  }

  /** Lets go of every daemon's monitor; they keep running (a worker's orderly exit). */
  async release(): Promise<void> {
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    for (const t of this.scheduled.values()) clearTimeout(t);
    this.scheduled.clear();
    await Promise.all([...this.locks.values()]);
    const disks = [...this.disks.values()];
    this.disks.clear();
    await Promise.all(disks.map((d) => d.qsd.release()));
  }

  // --- daemons -------------------------------------------------------------------

  private async meta(uuid: string): Promise<DiskMeta> {
    const m = await readMeta(this.paths(uuid).meta);
    if (!m) throw new ReplicationError(`Disk ${uuid} does not exist on this node`);
    return m;
  }

  /** The held or adopted daemon of a disk; null if none runs. */
  private async running(uuid: string): Promise<DiskDaemon | null> {
    const held = this.disks.get(uuid);
    if (held?.qsd.alive) return held;
    if (held) this.forget(uuid, held);
    const qsd = await Qsd.adopt(this.qsdOptions, uuid);
    return qsd ? this.register(uuid, qsd) : null;
  }

  private async requireRunning(meta: DiskMeta): Promise<DiskDaemon> {
    const d = await this.running(meta.uuid);
    if (!d) throw new ReplicationError(`Disk ${meta.uuid} is not assembled on this node`);
    return d;
  }

  /** Starts the daemon. After an unclean stop, first marks what may have changed. */
  private async start(meta: DiskMeta): Promise<DiskDaemon> {
    const p = this.paths(meta.uuid);
    if (!meta.clean) {
      const rec = await readRecordFile(p.record);
      const now = Date.now();
      if (meta.role === 'primary') {
        // Writes may have reached this copy and not the peer.
        await writeRecordFile(p.record, { generation: newGeneration(), disk: rec?.disk ?? 'Consistent', by: 'self', at: now });
      } else if (meta.bootId !== bootId()) {
        // The node crashed: acknowledged writes in its page cache are lost.
        await writeRecordFile(p.record, { generation: newGeneration(), disk: 'Outdated', by: 'self', at: now });
      } else if (rec?.disk === 'UpToDate') {
        // Only the daemon died (its writes are in the page cache), but the primary may have
        // written on without it: unproven until the primary confirms (DRBD's Consistent).
        await writeRecordFile(p.record, { ...rec, disk: 'Consistent', by: 'self', at: now });
      }
    }
    // Durable before the daemon runs: if it dies, the next start knows.
    Object.assign(meta, { clean: false, bootId: bootId(), resync: null, open: false });
    await writeMeta(p.meta, meta);
    const qsd = await Qsd.start(this.qsdOptions, meta.uuid, blockdevs(p, this.o.aio ?? 'threads'));
    this.o.onDaemon?.(qsd.pid, meta.uuid);
    const d = this.register(meta.uuid, qsd);
    try {
      await d.setUp(meta.localIp, meta.port);
    } catch (err) {
      await qsd.stop();
      this.forget(meta.uuid, d);
      throw new ReplicationError(`Disk ${meta.uuid}: cannot set up its storage daemon: ${(err as Error).message}`);
    }
    return d;
  }

  private register(uuid: string, qsd: Qsd): DiskDaemon {
    const d = new DiskDaemon(qsd, this.paths(uuid).xfer);
    this.disks.set(uuid, d);
    qsd.qmp.onEvent((e) => {
      if (e.event.startsWith('BLOCK_JOB_') && e.data?.device === 'repl') this.schedule(uuid, 20);
    });
    void qsd.qmp.closed.then(() => {
      if (this.disks.get(uuid) === d) this.disks.delete(uuid);
    });
    return d;
  }

  private forget(uuid: string, d: DiskDaemon): void {
    if (this.disks.get(uuid) === d) this.disks.delete(uuid);
    d.qsd.qmp.destroy();
  }

  /** One operation per disk at a time; background work waits its turn. */
  private locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    const tail = next.catch(() => undefined);
    this.locks.set(uuid, tail);
    void tail.then(() => { if (this.locks.get(uuid) === tail) this.locks.delete(uuid); });
    return next;
  }

  // --- background: reconnect, finish resyncs, check the peer, publish progress ---------

  private tick(): void {
    for (const uuid of this.disks.keys()) this.schedule(uuid, 0);
  }

  private schedule(uuid: string, delayMs: number): void {
    if (this.released || this.scheduled.has(uuid)) return;
    const t = setTimeout(() => {
      this.scheduled.delete(uuid);
      // An operation in progress leaves the disk consistent; the next tick looks again.
      if (this.locks.has(uuid) || this.released) return;
      void this.locked(uuid, async () => {
        const d = this.disks.get(uuid);
        if (!d?.qsd.alive) return;
        const meta = await readMeta(this.paths(uuid).meta);
        if (meta) await this.reconcileLocked(d, meta).catch((err: Error) => { d.error = err.message; });
      }).catch(() => undefined); // unreadable meta: the next operation on the disk reports it
    }, delayMs);
    t.unref();
    this.scheduled.set(uuid, t);
  }

  /** What a DRBD primary does on its own: keep the peer connected and in sync. */
  private async reconcileLocked(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    if (meta.role !== 'primary' || !meta.connected) return;
    const job = await d.job();
    if (!job || isStopped(job)) {
      if (Date.now() < d.retryAt) return;
      d.retryAt = Date.now() + Math.max(500, this.o.tickMs ?? 1_000);
      if (!job) await this.startMirror(d, meta);
      else await this.resumeMirror(d, meta, job, 200);
      d.retryAt = 0;
      const now = await d.job();
      if (now && !isStopped(now)) d.error = null;
      return;
    }
    if (inSync(job)) {
      if (meta.resync !== null) await this.finishResync(d, meta);
      else if (Date.now() - d.verifiedAt >= (this.o.verifyMs ?? VERIFY_MS)) await this.verifyPeer(d, meta);
    } else if (meta.resync !== null && Date.now() - d.lastProgressPush >= 1_000) {
      d.lastProgressPush = Date.now();
      await d.pushRecord(meta, { generation: meta.peerGeneration!, disk: 'Inconsistent', syncPercent: percent(job), by: meta.localIp, at: Date.now() })
        .catch(() => undefined); // progress is informative; the next tick tries again
    }
    d.error = null;
  }

  // --- replication policy --------------------------------------------------------------

  /**
   * Connects to the peer and starts the mirror: sync=none when both copies
   * carry the same generation and no VM write happened here since (the
   * quiet bitmap is empty once the mirror runs), else a full resync.
   */
  private async startMirror(d: DiskDaemon, meta: DiskMeta, forceFull = false): Promise<SyncMode> {
    const own = await this.ownRecord(meta);
    if (own.disk !== 'UpToDate') throw new ReplicationError(`Disk ${meta.uuid}: local copy is ${own.disk} and cannot be a sync source`);
    const peer = await d.pullRecord(meta);
    const counted = (await d.quietCount()) !== null;
    let mode: SyncMode = !forceFull && counted && peer?.generation === own.generation && peer.disk === 'UpToDate' ? 'none' : 'full';
    await d.addPeer(meta);
    try {
      if (mode === 'full') await this.beginFullResync(d, meta);
      await this.mirror(d, meta, mode);
      if (mode === 'none') {
        // From here on VM writes are mirrored; anything counted before may not be.
        await d.freezeCount();
        if ((await d.quietCount()) !== 0) {
          await d.cancelMirror(true);
          await this.beginFullResync(d, meta);
          await this.mirror(d, meta, 'full');
          mode = 'full';
        } else {
          Object.assign(meta, { peerGeneration: own.generation, resync: null });
        }
      }
    } catch (err) {
      if (!(await d.job().catch(() => null))) await d.delNode('peer');
      throw err;
    }
    await d.stopCounting();
    meta.lastSync = mode;
    await writeMeta(this.paths(meta.uuid).meta, meta);
    return mode;
  }

  /** The peer copy becomes Inconsistent under a fresh id, which a resumed job must find there later. */
  private async beginFullResync(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    const session = newGeneration();
    await d.pushRecord(meta, { generation: session, disk: 'Inconsistent', syncPercent: 0, by: meta.localIp, at: Date.now() });
    Object.assign(meta, { peerGeneration: session, resync: 'full' });
    await writeMeta(this.paths(meta.uuid).meta, meta);
  }

  private async mirror(d: DiskDaemon, meta: DiskMeta, sync: 'none' | 'full'): Promise<void> {
    try {
      await d.mirror(sync, meta.resyncRate * 1024);
    } catch (err) {
      throw new ReplicationError(`Disk ${meta.uuid}: cannot start replication to ${meta.peerIp}:${meta.port}: ${(err as Error).message}`);
    }
  }

  /**
   * A paused mirror (the peer was lost): resume it if the peer still holds
   * the copy the job was writing, so only what it missed is copied; a peer
   * with another copy gets a full resync.
   *
   * QEMU's NBD client reconnects by itself, in a thread that retries after
   * 1, 2, 4, 8 and then every 16 s (DRBD's connect-int is 10 s), and a
   * request only picks up a finished connection. So a resume may fail until
   * then; this tries for `waitMs` and leaves the rest to the next tick.
   */
  private async resumeMirror(d: DiskDaemon, meta: DiskMeta, job: MirrorJob, waitMs: number): Promise<SyncMode> {
    const peer = await d.pullRecord(meta);
    if (!peer || peer.generation !== meta.peerGeneration) {
      await d.cancelMirror(true);
      await d.delNode('peer');
      return this.startMirror(d, meta, true);
    }
    if (meta.resync === null) {
      await d.pushRecord(meta, { generation: peer.generation, disk: 'Inconsistent', syncPercent: percent(job), by: meta.localIp, at: Date.now() });
      Object.assign(meta, { resync: 'incremental', lastSync: 'incremental' });
      await writeMeta(this.paths(meta.uuid).meta, meta);
    }
    const end = Date.now() + waitMs;
    for (;;) {
      await d.resume();
      await sleep(50);
      const j = await d.job();
      if (!j || !isStopped(j)) break;
      if (Date.now() >= end) {
        d.error = `peer ${meta.peerIp}:${meta.port} is back; waiting for the replication link to reconnect`;
        break;
      }
    }
    return meta.resync ?? 'incremental';
  }

  /**
   * An in-sync mirror sees nothing of a peer whose daemon restarted while no
   * write was due. The peer's record tells: the same generation (Consistent
   * after a restart) is confirmed UpToDate; another one (its node crashed
   * and lost cached writes, or the copy was replaced) means a full resync.
   */
  private async verifyPeer(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    let peer: CopyRecord | null;
    try {
      peer = await d.pullRecord(meta);
    } catch (err) {
      // DRBD's ping: an idle link can be dead. Tried again every tick until the peer answers.
      d.linkDown = true;
      throw err;
    }
    Object.assign(d, { linkDown: false, verifiedAt: Date.now() });
    if (peer?.generation !== meta.peerGeneration) {
      await d.cancelMirror(true);
      await d.delNode('peer');
      await this.startMirror(d, meta, true);
    } else if (peer.disk !== 'UpToDate') {
      await d.pushRecord(meta, { generation: peer.generation, disk: 'UpToDate', by: meta.localIp, at: Date.now() });
    }
  }

  /** In sync after a resync: both copies get a new generation (the peer's first: a crash between leaves them different). */
  private async finishResync(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    const generation = newGeneration();
    await d.pushRecord(meta, { generation, disk: 'UpToDate', by: meta.localIp, at: Date.now() });
    await writeRecordFile(this.paths(meta.uuid).record, { generation, disk: 'UpToDate', by: 'self', at: Date.now() });
    Object.assign(meta, { peerGeneration: generation, resync: null });
    await writeMeta(this.paths(meta.uuid).meta, meta);
  }

  /**
   * Stops replicating (VM writes from here on are counted). True if the peer
   * has every write: the mirror was in sync and finished cleanly. Otherwise
   * this copy gets a new generation, and the peer, if it can be told, is
   * marked Outdated.
   */
  private async stopMirror(d: DiskDaemon, meta: DiskMeta): Promise<boolean> {
    await d.startCounting();
    const own = await this.ownRecord(meta);
    const job = await d.job();
    let synced: boolean;
    if (job) {
      const wasInSync = inSync(job);
      synced = (await d.cancelMirror(!wasInSync)) && wasInSync;
      await d.delNode('peer');
      if (synced && meta.resync !== null) synced = await this.finishResync(d, meta).then(() => true, () => false);
    } else {
      await d.delNode('peer');
      synced = meta.resync === null && meta.peerGeneration === own.generation;
    }
    if (!synced) {
      await this.newOwnGeneration(meta);
      if (job && meta.peerGeneration) {
        await d.pushRecord(meta, { generation: meta.peerGeneration, disk: 'Outdated', by: meta.localIp, at: Date.now() }).catch(() => undefined);
      }
    }
    meta.resync = null;
    await writeMeta(this.paths(meta.uuid).meta, meta);
    return synced;
  }

  /** Grow on a primary. A mirror keeps its source's size, and the NBD client the peer's: stop, resize, reconnect. */
  private async resizePrimary(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    // The VM export is down meanwhile, so the restart proves nothing was missed (sync=none);
    // the VM's NBD client reconnects (vmBlockdev's reconnect-delay).
    await this.setExports(d, { ...meta, open: false });
    try {
      // The secondary's grow dropped the link; bring the mirror back in sync first.
      const end = Date.now() + 30_000;
      for (let j = await d.job(); j && !inSync(j) && Date.now() < end; j = await d.job()) {
        if (isStopped(j)) await this.resumeMirror(d, meta, j, 1_000).catch(() => undefined);
        await sleep(50);
      }
      const replicating = !!(await d.job());
      await this.stopMirror(d, meta);
      await d.resize(meta.sizeBytes);
      // A peer that was there and now fails (not grown yet) fails the grow; an absent one is connected later.
      if (meta.connected) await this.startMirror(d, meta).catch((err: Error) => { if (replicating) throw err; d.error = err.message; });
    } finally {
      await this.setExports(d, meta);
    }
  }

  /** NBD exports forbid resizing their node and fix their size when created: down and up again around it. */
  private async resizeSecondary(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    if ((await d.size()) === meta.sizeBytes) return;
    await this.setExports(d, { ...meta, open: false, connected: false });
    try {
      await d.resize(meta.sizeBytes);
    } finally {
      await this.setExports(d, meta);
    }
  }

  // --- roles -----------------------------------------------------------------------------

  private async promoteLocked(d: DiskDaemon, meta: DiskMeta, opts: { force: boolean; multimaster: boolean }): Promise<void> {
    const p = this.paths(meta.uuid);
    if (meta.role !== 'primary') {
      if (!opts.multimaster && (await d.exportIds()).includes('repl')) {
        // A peer that just demoted may take a moment to close its connection.
        const end = Date.now() + 1_000;
        while (d.clients(meta.port).includes(meta.peerIp)) {
          if (Date.now() >= end) throw new ReplicationError(`Disk ${meta.uuid}: the peer ${meta.peerIp} still replicates into this copy; demote it first`);
          await sleep(50);
        }
      }
      const own = await this.ownRecord(meta);
      if (own.disk !== 'UpToDate') {
        if (!opts.force) throw new ReplicationError(`Disk ${meta.uuid}: local copy is ${own.disk}; refusing to make it primary without force`);
        // Its data wins now: a new generation, so the peer cannot pass for identical.
        await writeRecordFile(p.record, { generation: newGeneration(), disk: 'UpToDate', by: 'self', at: Date.now() });
      }
      if (!opts.multimaster) Object.assign(meta, { role: 'primary', resync: null });
    }
    meta.open = true;
    await this.setExports(d, meta);
    await writeMeta(p.meta, meta);
    if (meta.role === 'primary' && meta.connected) {
      // Not reaching the peer is no failure here: the disk runs WFConnection and retries.
      d.retryAt = 0;
      await this.reconcileLocked(d, meta).catch((err: Error) => { d.error = err.message; });
    }
  }

  /** Primary → secondary. `keepExports`: the daemon stops next, so no secondary exports are added. */
  private async demoteLocked(d: DiskDaemon, meta: DiskMeta, keepExports = false): Promise<void> {
    if (meta.role !== 'primary') {
      if (meta.open) await this.closeDualPrimary(d, meta);
      return;
    }
    const synced = await this.stopMirror(d, meta);
    meta.open = false;
    await this.setExports(d, meta);
    // The VM export is gone: whatever was counted since the stop never reached the peer.
    if (synced && (await d.quietCount()) !== 0) await this.newOwnGeneration(meta);
    meta.role = 'secondary';
    if (!keepExports) await this.setExports(d, meta);
    await writeMeta(this.paths(meta.uuid).meta, meta);
  }

  /**
   * Closing a disk opened in dual-primary mode. Writes its VM made here were
   * not replicated to the primary: the copy is then Outdated, and the
   * primary is made to notice (its link drops, and on reconnecting it finds
   * the new generation and resyncs in full).
   */
  private async closeDualPrimary(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    meta.open = false;
    await this.setExports(d, meta);
    if ((await d.quietCount()) !== 0) {
      await writeRecordFile(this.paths(meta.uuid).record, { generation: newGeneration(), disk: 'Outdated', by: 'self', at: Date.now() });
      await d.resetCount();
      await this.setExports(d, { ...meta, connected: false });
      await this.setExports(d, meta);
    }
    await writeMeta(this.paths(meta.uuid).meta, meta);
  }

  /** Exports follow the role: secondaries receive (repl, md), open disks serve their VM (vm). */
  private async setExports(d: DiskDaemon, meta: DiskMeta): Promise<void> {
    const want = new Map<ExportId, { name: string; writethrough?: boolean }>();
    if (meta.role === 'secondary' && meta.connected) {
      want.set('repl', { name: meta.uuid, writethrough: this.o.durable ?? false });
      want.set('md', { name: `${meta.uuid}.md` });
    }
    if (meta.open) want.set('vm', { name: `${meta.uuid}.vm` });
    await d.setExports(want);
  }

  // --- records and status ----------------------------------------------------------------

  private async ownRecord(meta: DiskMeta): Promise<CopyRecord> {
    return (await readRecordFile(this.paths(meta.uuid).record)) ?? { generation: 'none', disk: 'Inconsistent', by: 'self', at: 0 };
  }

  /** This copy may now differ from the peer's: a generation of its own. */
  private async newOwnGeneration(meta: DiskMeta): Promise<void> {
    await writeRecordFile(this.paths(meta.uuid).record, { ...(await this.ownRecord(meta)), generation: newGeneration(), by: 'self', at: Date.now() });
  }

  private async statusLocked(d: DiskDaemon, meta: DiskMeta): Promise<ReplicatedDiskStatus> {
    const primary = meta.role === 'primary';
    const receiving = !primary && meta.connected && (await d.exportIds()).includes('repl');
    return describe(meta, {
      own: await this.ownRecord(meta), size: await d.size(), error: d.error,
      job: primary ? await d.job() : null, linkDown: d.linkDown,
      receiving, peerIn: receiving && d.clients(meta.port).includes(meta.peerIp),
    }, d);
  }
}

function checkSpec(s: DrbdDiskSpec): void {
  if (!VALID_UUID.test(s.uuid)) throw new ReplicationError(`Invalid disk id '${s.uuid}'`);
  if (!(Number.isInteger(s.port) && s.port > 0 && s.port < 65536)) throw new ReplicationError(`Disk ${s.uuid}: invalid port ${s.port}`);
  if (!(s.size > 0)) throw new ReplicationError(`Disk ${s.uuid}: invalid size ${s.size}`);
  if (!s.localIp || !s.peerIp) throw new ReplicationError(`Disk ${s.uuid}: replication addresses missing`);
}

async function exists(file: string): Promise<boolean> {
  return !!(await stat(file).catch(() => null));
}

async function writeFileBlock(file: string, block: Buffer): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.write(block, 0, block.length, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
