// A replicated disk's state in Ganeti's words: objects.BlockDevStatus, as
// DRBD8Dev.GetSyncStatus computes it, plus the DRBD connection and disk
// states it derives from. Pure: the manager gathers what it observed.
import { inSync, isStopped, percent, vmNbdUri, type MirrorJob } from './replication-daemon.ts';
import type { CopyRecord, DiskMeta, DiskState } from './replication-meta.ts';

export const FIRST_DRBD_PORT = 11000;
export const LAST_DRBD_PORT = 14999;
/** Ganeti's constants.LDS_*: the local disk's health in BlockDevStatus.ldisk_status. */
export const LDS_OKAY = 1;
export const LDS_SYNC = 2;
export const LDS_UNKNOWN = 3;
export const LDS_FAULTY = 4;
const DRBD_MAJOR = 147;

/** DRBD connection states (drbd_info.DRBD8Status.CS_*) that occur here. */
export type ConnState = 'StandAlone' | 'WFConnection' | 'Connected' | 'SyncSource' | 'SyncTarget';
export type SyncMode = 'none' | 'incremental' | 'full';

/** objects.BlockDevStatus. */
export interface BlockDevStatus {
  dev_path: string;
  major: number;
  minor: number;
  sync_percent: number | null;
  estimated_time: number | null;
  is_degraded: boolean;
  ldisk_status: number;
}

export interface ReplicatedDiskStatus extends BlockDevStatus {
  role: 'Primary' | 'Secondary';
  /** The VM-facing export is up. */
  open: boolean;
  cstate: ConnState;
  ldisk: DiskState;
  rdisk: DiskState;
  /** Primary: the resync under way, if any. */
  resync: 'full' | 'incremental' | null;
  /** Primary: how replication last (re)started. */
  last_sync: SyncMode | null;
  /** Primary: bytes the peer still lacks (as far as the mirror knows). */
  out_of_sync: number;
  generation: string;
  /** Bytes, as the storage daemon sees the disk. */
  size: number;
  /** The last failure of background (re)connecting, while not connected. */
  error: string | null;
}

export interface Observed {
  own: CopyRecord;
  size: number;
  error: string | null;
  /** Primary: the mirror job, and whether the last check of the peer failed. */
  job: MirrorJob | null;
  linkDown: boolean;
  /** Secondary: its replication export is up, and the peer is connected to it. */
  receiving: boolean;
  peerIn: boolean;
}

export interface RateSample {
  sample?: { at: number; remaining: number; rate: number };
}

export function inResync(c: ConnState): boolean {
  return c === 'SyncSource' || c === 'SyncTarget';
}

/** `rate` keeps the resync rate between calls, for estimated_time. */
export function describe(meta: DiskMeta, o: Observed, rate: RateSample): ReplicatedDiskStatus {
  let cstate: ConnState;
  let rdisk: DiskState = 'DUnknown';
  let syncPercent: number | null = null;
  let eta: number | null = null;
  let outOfSync = 0;
  let resync: 'full' | 'incremental' | null = null;
  if (meta.role === 'primary') {
    const job = o.job;
    if (!job) {
      cstate = meta.connected ? 'WFConnection' : 'StandAlone';
    } else {
      outOfSync = Math.max(0, job.len - job.offset);
      if (isStopped(job)) {
        cstate = 'WFConnection';
        if (outOfSync > 0) rdisk = 'Outdated';
      } else if (inSync(job)) {
        cstate = o.linkDown ? 'WFConnection' : 'Connected';
        if (!o.linkDown) rdisk = 'UpToDate';
        resync = meta.resync;
      } else {
        cstate = 'SyncSource';
        rdisk = 'Inconsistent';
        resync = meta.resync ?? 'incremental';
        syncPercent = percent(job);
        eta = estimate(rate, outOfSync);
      }
    }
  } else {
    if (!o.receiving) cstate = 'StandAlone';
    else if (!o.peerIn) cstate = 'WFConnection';
    else cstate = o.own.disk === 'Inconsistent' ? 'SyncTarget' : 'Connected';
    if (o.peerIn) rdisk = 'UpToDate';
    if (cstate === 'SyncTarget') syncPercent = o.own.syncPercent ?? 0;
  }
  if (cstate !== 'SyncSource') rate.sample = undefined;
  const ldisk = o.own.disk;
  return {
    dev_path: vmNbdUri(meta), major: DRBD_MAJOR, minor: meta.port - FIRST_DRBD_PORT,
    sync_percent: syncPercent, estimated_time: eta,
    // DRBD8Dev.GetSyncStatus
    is_degraded: cstate !== 'Connected' || ldisk !== 'UpToDate',
    ldisk_status: ldisk === 'UpToDate' ? LDS_OKAY : ldisk === 'Diskless' ? LDS_FAULTY : inResync(cstate) ? LDS_SYNC : LDS_UNKNOWN,
    role: meta.role === 'primary' ? 'Primary' : 'Secondary', open: meta.open,
    cstate, ldisk, rdisk, resync, last_sync: meta.role === 'primary' ? meta.lastSync ?? null : null, out_of_sync: outOfSync,
    generation: o.own.generation, size: o.size, error: cstate === 'Connected' ? null : o.error,
  };
}

/** Seconds left at the rate seen between two calls. */
function estimate(r: RateSample, remaining: number): number | null {
  const now = Date.now();
  const prev = r.sample;
  let rate = prev?.rate ?? 0;
  if (prev && now > prev.at && prev.remaining > remaining) rate = ((prev.remaining - remaining) / (now - prev.at)) * 1000;
  r.sample = { at: now, remaining, rate };
  return rate > 0 ? Math.ceil(remaining / rate) : null;
}
