// The storage daemon of one replicated disk, in QMP terms: its block graph,
// exports, the mirror job, the `quiet` dirty bitmap, and copy-record
// transfers to and from the peer. Policy (when to do which) is the
// manager's (replication.ts); this module only knows how.
//
// Block graph:   data-file ◀ disk (raw) ◀ vm (raw)       the data
//                md-file ◀ md (raw)                      this copy's record
//                xfer-file ◀ xfer (raw)                  a scratch block for records in transit
// While replicating, a primary also has `peer` (NBD to the peer's data) and
// the mirror's filter `repl-top` on top of `vm`; `peer-md` (NBD to the
// peer's record) exists only during a transfer.
//
// The VM export sits on `vm`, the mirror's source; the peer's writes into a
// secondary arrive on `disk`, below it. So a dirty bitmap on `vm` counts
// only VM writes, never replication traffic.
import { HypervisorFailure } from './driver.ts';
import { QmpCommandError, type QmpEvent } from './qmp.ts';
import { tcpClients, type Qsd } from './qsd.ts';
import { readRecordFile, writeRecordFile, type CopyRecord } from './replication-meta.ts';

/** A replicated-disk operation failed; the job reports the message. */
export class ReplicationError extends HypervisorFailure {}

export interface MirrorJob {
  device: string;
  status: string;
  ready: boolean;
  paused: boolean;
  'io-status': string;
  offset: number;
  len: number;
}

/** Where the peer's daemon listens, and which disk. */
export interface PeerAddress {
  uuid: string;
  peerIp: string;
  port: number;
}

export type ExportId = 'repl' | 'md' | 'vm';

const JOB = 'repl';
const XFER_JOB = 'md-xfer';
const QUIET = 'quiet';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Paused by a failed write to the peer (on-target-error=stop). */
export function isStopped(j: MirrorJob): boolean {
  return j.paused || j['io-status'] !== 'ok';
}

/** Every write so far is on the peer. */
export function inSync(j: MirrorJob): boolean {
  return j.ready && !isStopped(j) && j.offset === j.len;
}

export function percent(j: MirrorJob): number {
  return j.len > 0 ? Math.floor((j.offset / j.len) * 1000) / 10 : 100;
}

export function blockdevs(files: { image: string; record: string; xfer: string }, aio: 'threads' | 'io_uring'): Record<string, unknown>[] {
  return [
    { driver: 'file', 'node-name': 'data-file', filename: files.image, aio },
    { driver: 'raw', 'node-name': 'disk', file: 'data-file' },
    { driver: 'raw', 'node-name': 'vm', file: 'disk' },
    { driver: 'file', 'node-name': 'md-file', filename: files.record },
    { driver: 'raw', 'node-name': 'md', file: 'md-file' },
    { driver: 'file', 'node-name': 'xfer-file', filename: files.xfer },
    { driver: 'raw', 'node-name': 'xfer', file: 'xfer-file' },
  ];
}

export class DiskDaemon {
  // State the manager keeps per running daemon, for its background work.
  /** Background reconnects wait until then after a failed one (events come with every failed VM write). */
  retryAt = 0;
  /** When a primary last checked the peer's copy record. */
  verifiedAt = 0;
  /** That check could not reach the peer: an idle mirror looks in sync but has no peer. */
  linkDown = false;
  lastProgressPush = 0;
  /** The last failure of background work, shown while not connected. */
  error: string | null = null;
  /** The last resync sample, for estimated_time. */
  sample: { at: number; remaining: number; rate: number } | undefined;

  constructor(readonly qsd: Qsd, private readonly xferFile: string) {}

  get pid(): number {
    return this.qsd.pid;
  }

  /** After start, before any export exists (so no VM write escapes the bitmap). */
  async setUp(localIp: string, port: number): Promise<void> {
    await this.qsd.execute('block-dirty-bitmap-add', { node: 'vm', name: QUIET });
    await this.qsd.execute('nbd-server-start', { addr: { type: 'inet', data: { host: localIp, port: String(port) } } });
  }

  // --- exports -----------------------------------------------------------------------

  async exportIds(): Promise<string[]> {
    return (await this.qsd.execute<{ id: string }[]>('query-block-exports')).map((e) => e.id);
  }

  /** Exactly these exports afterwards; removed ones drop their clients at once. */
  async setExports(want: Map<ExportId, { name: string; writethrough?: boolean }>): Promise<void> {
    const have = await this.exportIds();
    for (const id of have) {
      if (want.has(id as ExportId)) continue;
      const gone = new Promise<void>((resolve) => {
        const off = this.qsd.qmp.onEvent((e) => {
          if (e.event === 'BLOCK_EXPORT_DELETED' && e.data?.id === id) { off(); resolve(); }
        });
        setTimeout(() => { off(); resolve(); }, 5_000).unref();
      });
      // hard: a client still connected (a VM that should not be there, a stale mirror) is cut off.
      await this.qsd.execute('block-export-del', { id, mode: 'hard' });
      await gone;
    }
    for (const [id, e] of want) {
      if (have.includes(id)) continue;
      // An export added under a running mirror's filter would bypass it: VM writes enter above it.
      const node = id === 'md' ? 'md' : id === 'repl' ? 'disk' : (await this.job()) ? 'repl-top' : 'vm';
      await this.qsd.execute('block-export-add', { type: 'nbd', id, 'node-name': node, name: e.name, writable: true, writethrough: e.writethrough ?? false });
    }
  }

  /** Addresses with an established connection to this daemon's NBD server. */
  clients(port: number): string[] {
    return tcpClients(this.qsd.pid, port);
  }

  // --- the mirror ----------------------------------------------------------------------

  async job(): Promise<MirrorJob | null> {
    const jobs = await this.qsd.execute<MirrorJob[]>('query-block-jobs');
    return jobs.find((j) => j.device === JOB) ?? null;
  }

  /** Write-blocking: a write completes once it is on both copies. */
  async mirror(sync: 'none' | 'full', speedBytes: number): Promise<void> {
    await this.qsd.execute('blockdev-mirror', {
      'job-id': JOB, device: 'vm', target: 'peer', sync, 'copy-mode': 'write-blocking',
      // stop, not report: the job and its record of what the peer missed survive a lost peer.
      'on-target-error': 'stop', 'on-source-error': 'report',
      'filter-node-name': 'repl-top', 'auto-finalize': true, 'auto-dismiss': true,
      ...(speedBytes > 0 ? { speed: speedBytes } : {}),
    });
  }

  async resume(): Promise<void> {
    await this.qsd.execute('block-job-resume', { device: JOB }).catch(() => undefined);
  }

  /**
   * block-job-cancel. Unforced, on an in-sync mirror, it is a clean finish:
   * pending writes reach the peer, which is flushed. True only for that.
   */
  async cancelMirror(force: boolean): Promise<boolean> {
    const attempt = async (f: boolean, ms: number): Promise<QmpEvent | null> => {
      const end = this.jobEnd(JOB, ms);
      try {
        await this.qsd.execute('block-job-cancel', { device: JOB, force: f });
      } catch (err) {
        end.cancel();
        if (err instanceof QmpCommandError && err.errorClass === 'DeviceNotActive') return null; // already gone
        throw err;
      }
      if (!f) {
        // A link that died quietly (nothing written since) fails the final flush and pauses the
        // job; resumed, the NBD client reconnects and the finish goes through.
        let ended = false;
        void end.promise.then(() => { ended = true; }, () => { ended = true; });
        while (!ended) {
          await sleep(50);
          const j = ended ? null : await this.job().catch(() => null);
          if (j && isStopped(j)) await this.resume();
        }
      }
      return end.promise;
    };
    let e = await attempt(force, force ? 10_000 : 5_000).catch(() => undefined);
    if (e === undefined && !force) e = await attempt(true, 10_000);
    return !!e && e.event === 'BLOCK_JOB_COMPLETED' && !e.data?.error;
  }

  /** The end of a block job (COMPLETED or CANCELLED); subscribe before starting it. */
  private jobEnd(id: string, timeoutMs: number): { promise: Promise<QmpEvent | null>; cancel: () => void } {
    let off = () => {};
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<QmpEvent | null>((resolve, reject) => {
      off = this.qsd.qmp.onEvent((e) => {
        if ((e.event === 'BLOCK_JOB_COMPLETED' || e.event === 'BLOCK_JOB_CANCELLED') && e.data?.device === id) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
      timer = setTimeout(() => { off(); reject(new ReplicationError(`block job ${id} did not end within ${timeoutMs} ms`)); }, timeoutMs);
      timer.unref();
      void this.qsd.qmp.closed.then(() => { clearTimeout(timer); off(); reject(new ReplicationError(`storage daemon closed its monitor during block job ${id}`)); });
    });
    promise.catch(() => undefined);
    return { promise, cancel: () => { clearTimeout(timer); off(); } };
  }

  /** The mirror's target: a fresh NBD connection to the peer's data export. */
  async addPeer(p: PeerAddress): Promise<void> {
    await this.delNode('peer');
    try {
      await this.qsd.execute('blockdev-add', { driver: 'nbd', 'node-name': 'peer', server: server(p), export: p.uuid });
    } catch (err) {
      throw new ReplicationError(`Disk ${p.uuid}: cannot connect to peer ${p.peerIp}:${p.port}: ${(err as Error).message}`);
    }
  }

  /** blockdev-del, retried while a finishing job still holds the node. */
  async delNode(node: 'peer' | 'peer-md'): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await this.qsd.execute('blockdev-del', { 'node-name': node });
        return;
      } catch (err) {
        if (err instanceof QmpCommandError && /find node|not find|no node/i.test(err.desc)) return;
        if (i >= 50) throw err;
        await sleep(20);
      }
    }
  }

  // --- the quiet bitmap: VM writes while no mirror runs --------------------------------

  /** Null if no such bitmap exists (then nothing can be proven). */
  async quietCount(): Promise<number | null> {
    const b = (await this.vmNode())?.['dirty-bitmaps']?.find((x) => x.name === QUIET);
    return b ? b.count : null;
  }

  async startCounting(): Promise<void> {
    if ((await this.quietCount()) === null) await this.qsd.execute('block-dirty-bitmap-add', { node: 'vm', name: QUIET });
  }

  async freezeCount(): Promise<void> {
    await this.qsd.execute('block-dirty-bitmap-disable', { node: 'vm', name: QUIET });
  }

  async stopCounting(): Promise<void> {
    await this.qsd.execute('block-dirty-bitmap-remove', { node: 'vm', name: QUIET }).catch(() => undefined);
  }

  async resetCount(): Promise<void> {
    await this.qsd.execute('block-dirty-bitmap-clear', { node: 'vm', name: QUIET });
  }

  // --- size ----------------------------------------------------------------------------------

  async size(): Promise<number> {
    return (await this.vmNode())?.image['virtual-size'] ?? 0;
  }

  /** Through `vm`, so every layer down to the file learns it. NBD exports on the chain forbid it: take them down first. */
  async resize(size: number): Promise<void> {
    await this.qsd.execute('block_resize', { 'node-name': 'vm', size });
  }

  private async vmNode(): Promise<{ image: { 'virtual-size': number }; 'dirty-bitmaps'?: { name: string; count: number }[] } | undefined> {
    const nodes = await this.qsd.execute<{ 'node-name': string; image: { 'virtual-size': number }; 'dirty-bitmaps'?: { name: string; count: number }[] }[]>(
      'query-named-block-nodes', { flat: true });
    return nodes.find((n) => n['node-name'] === 'vm');
  }

  // --- copy records --------------------------------------------------------------------------

  /**
   * The peer's copy record, read through this daemon (it runs in the node's
   * network namespace): a backup job copies the peer's exported block into
   * the local scratch block. Null if the peer's block holds none.
   */
  async pullRecord(p: PeerAddress): Promise<CopyRecord | null> {
    await this.withPeerRecord(p, () => this.backup('peer-md', 'xfer'));
    return readRecordFile(this.xferFile);
  }

  async pushRecord(p: PeerAddress, r: CopyRecord): Promise<void> {
    await writeRecordFile(this.xferFile, r);
    // Deleting the NBD node flushes it, so the record is on the peer's disk, not only in its cache.
    await this.withPeerRecord(p, () => this.backup('xfer', 'peer-md'));
  }

  private async withPeerRecord(p: PeerAddress, fn: () => Promise<void>): Promise<void> {
    await this.delNode('peer-md');
    try {
      await this.qsd.execute('blockdev-add', { driver: 'nbd', 'node-name': 'peer-md', server: server(p), export: `${p.uuid}.md` });
    } catch (err) {
      throw new ReplicationError(`Disk ${p.uuid}: peer ${p.peerIp}:${p.port} is unreachable or not secondary: ${(err as Error).message}`);
    }
    try {
      await fn();
    } finally {
      await this.delNode('peer-md');
    }
  }

  private async backup(device: string, target: string): Promise<void> {
    const end = this.jobEnd(XFER_JOB, 10_000);
    try {
      await this.qsd.execute('blockdev-backup', { 'job-id': XFER_JOB, device, target, sync: 'full', 'auto-finalize': true, 'auto-dismiss': true });
    } catch (err) {
      end.cancel();
      throw new ReplicationError(`copy record transfer failed: ${(err as Error).message}`);
    }
    const e = await end.promise;
    if (!e || e.event !== 'BLOCK_JOB_COMPLETED' || e.data?.error) throw new ReplicationError(`copy record transfer failed: ${String(e?.data?.error ?? 'cancelled')}`);
  }
}

function server(p: PeerAddress): Record<string, string> {
  return { type: 'inet', host: p.peerIp, port: String(p.port) };
}

// --- how a VM reaches the disk -------------------------------------------------------------

/** Seconds a VM's NBD client waits for its export to come back before failing I/O. */
export const VM_RECONNECT_DELAY = 10;

/**
 * The -blockdev protocol node a VM on the disk's primary uses (put a `raw`
 * format node on top). The export goes away briefly when the disk grows
 * (NBD exports have a fixed size), and with its daemon if that restarts;
 * reconnect-delay makes both a pause for the guest instead of I/O errors.
 * A running guest does not see a new size: NBD sends it once, at connect.
 */
export function vmBlockdev(d: { uuid: string; port: number; localIp: string }): {
  driver: 'nbd'; server: { type: 'inet'; host: string; port: string }; export: string; 'reconnect-delay': number;
} {
  return { driver: 'nbd', server: { type: 'inet', host: d.localIp, port: String(d.port) }, export: `${d.uuid}.vm`, 'reconnect-delay': VM_RECONNECT_DELAY };
}

export function vmNbdUri(d: { uuid: string; port: number; localIp: string }): string {
  const host = d.localIp.includes(':') ? `[${d.localIp}]` : d.localIp;
  return `nbd://${host}:${d.port}/${d.uuid}.vm`;
}
