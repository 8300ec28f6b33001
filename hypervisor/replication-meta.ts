// What DRBD keeps in its meta-data LV, for rapid's replicated disks.
//
// Two records per disk and node:
//  - the node's own settings (`<uuid>.meta.json`): size, network, role, and
//    whether its storage daemon was stopped cleanly. Only this node's manager
//    writes it.
//  - the copy record (`<uuid>.md`, one 4 KiB block): what this copy of the
//    data is, as a generation id and a DRBD disk state. While the node is
//    secondary, its storage daemon exports this block and the primary writes
//    it over the replication link (through its own daemon), the way DRBD's
//    primary updates its peer's meta data. Otherwise the local manager
//    writes it.
//
// The generation is what lets two nodes prove their copies are identical
// without reading them: a primary gives both copies a fresh id each time
// the pair is in sync, and any copy that may have changed on its own since
// (writes while not replicating, an unclean stop) gets a fresh id of its
// own. Equal ids therefore mean equal data.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

/** DRBD's disk states (drbd_info.DRBD8Status.DS_*), as far as they apply. */
export type DiskState = 'UpToDate' | 'Inconsistent' | 'Outdated' | 'Consistent' | 'DUnknown' | 'Diskless';

export const RECORD_SIZE = 4096;

export interface CopyRecord {
  generation: string;
  disk: DiskState;
  /** While a resync into this copy runs: how far it got, as the primary last wrote. */
  syncPercent?: number;
  /** 'self', or the replication address of the primary that wrote it. */
  by: string;
  /** ms since the epoch. */
  at: number;
}

export interface DiskMeta {
  uuid: string;
  sizeBytes: number;
  port: number;
  localIp: string;
  peerIp: string;
  /** KiB/s for a resync (Ganeti's resync_rate); 0 = unlimited. */
  resyncRate: number;
  /** Primary: this node mirrors every write to the peer. Secondary: it receives them. */
  role: 'primary' | 'secondary';
  /** The VM-facing export is up (DRBD's Open); a secondary is open only in dual-primary mode. */
  open: boolean;
  /** The network is configured (assemble/attachNet until disconnectNet): a primary keeps (re)connecting. */
  connected: boolean;
  /** Primary: the generation it last wrote into the peer's copy record. */
  peerGeneration: string | null;
  /** Primary: the resync in progress, until the pair is in sync and has a new generation. */
  resync: 'full' | 'incremental' | null;
  /** Primary: how replication last (re)started: none (copies known identical), incremental or full. */
  lastSync: 'none' | 'incremental' | 'full' | null;
  /** Cleared while the storage daemon runs; set by an orderly shutdown. */
  clean: boolean;
  /** Kernel boot id when the daemon was last started: a changed id after an unclean stop means the node crashed. */
  bootId: string;
}

export function newGeneration(): string {
  return randomBytes(8).toString('hex');
}

export function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** One block: the JSON, then zeros (so the block is the same size on every node). */
export function encodeRecord(r: CopyRecord): Buffer {
  const json = Buffer.from(JSON.stringify(r) + '\n');
  if (json.length > RECORD_SIZE) throw new Error('copy record too large');
  const block = Buffer.alloc(RECORD_SIZE);
  json.copy(block);
  return block;
}

/** Null for a block that holds no valid record (never written, or torn). */
export function decodeRecord(block: Buffer): CopyRecord | null {
  const end = block.indexOf(0);
  const text = block.subarray(0, end < 0 ? block.length : end).toString('utf8').trim();
  if (!text) return null;
  try {
    const r = JSON.parse(text) as CopyRecord;
    return typeof r.generation === 'string' && typeof r.disk === 'string' ? r : null;
  } catch {
    return null;
  }
}

export async function readRecordFile(file: string): Promise<CopyRecord | null> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(RECORD_SIZE);
    await fh.read(buf, 0, RECORD_SIZE, 0);
    return decodeRecord(buf);
  } finally {
    await fh.close();
  }
}

/** In place (the storage daemon has the file open), synced, one block so a reader never sees half of it. */
export async function writeRecordFile(file: string, r: CopyRecord): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(encodeRecord(r), 0, RECORD_SIZE, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export async function readMeta(file: string): Promise<DiskMeta | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DiskMeta;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Atomic and durable: after a node crash the clean flag must be the one last written. */
export async function writeMeta(file: string, m: DiskMeta): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(m, null, 1));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
