// A node's side of Ganeti's drbd template: the cluster sends disks with
// Ganeti's logical_id (both nodes, port, minors, secret) and the two nodes'
// replication addresses; this node finds itself in the pair and drives its
// replica (hypervisor/replication.ts). The primary's guest reaches the data
// over NBD, through the primary's storage daemon.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HypervisorFailure } from './driver.ts';
import { ReplicatedDisks, vmNbdUri, type DrbdDiskSpec, type ReplicatedDiskStatus } from './replication.ts';

const execFileP = promisify(execFile);

export interface DrbdDisk {
  uuid: string;
  size: number;
  logical_id: unknown;
  drbd?: { ips: [string, string] };
}

export class DrbdDisks {
  readonly replication: ReplicatedDisks;

  constructor(private o: { nodeUuid: string; dataDir: string; runDir: string; onDaemon?: (pid: number, uuid: string) => void }) {
    this.replication = new ReplicatedDisks({ dataDir: o.dataDir, runDir: o.runDir, onDaemon: o.onDaemon });
  }

  /** This node's view of a disk: its own address and the peer's. */
  spec(d: DrbdDisk): DrbdDiskSpec {
    const [a, b, port] = d.logical_id as [string, string, number];
    if (a !== this.o.nodeUuid && b !== this.o.nodeUuid) throw new HypervisorFailure(`Disk ${d.uuid} does not belong to this node`);
    const [ipA, ipB] = d.drbd?.ips ?? ['', ''];
    if (!ipA || !ipB) throw new HypervisorFailure(`Disk ${d.uuid}: the nodes' replication addresses are unknown`);
    return a === this.o.nodeUuid
      ? { uuid: d.uuid, size: d.size, port, localIp: ipA, peerIp: ipB }
      : { uuid: d.uuid, size: d.size, port, localIp: ipB, peerIp: ipA };
  }

  /** What a guest on this node opens for the disk (only where the disk is primary or open). */
  vmPath(d: DrbdDisk): string {
    const s = this.spec(d);
    return vmNbdUri({ uuid: s.uuid, port: s.port, localIp: s.localIp });
  }

  /** The path a guest on the peer node uses for the disk (what a migrating guest arrives with). */
  peerVmPath(d: DrbdDisk): string {
    const s = this.spec(d);
    return vmNbdUri({ uuid: s.uuid, port: s.port, localIp: s.peerIp });
  }

  create(disks: DrbdDisk[]): Promise<void> {
    return each(disks, (d) => this.replication.create(this.spec(d)));
  }

  /** Assembled as this node's role; answers the guest's path on the primary. */
  async assemble(d: DrbdDisk, primary: boolean, force = false): Promise<string | null> {
    await this.replication.assemble(this.spec(d), { primary, force });
    return primary ? this.vmPath(d) : null;
  }

  shutdown(disks: DrbdDisk[]): Promise<void> {
    return each(disks, (d) => this.replication.shutdown(d.uuid));
  }

  remove(disks: DrbdDisk[]): Promise<void> {
    return each(disks, (d) => this.replication.remove(d.uuid));
  }

  /** blockdev_getmirrorstatus: one status per disk, null where it is not assembled here. */
  status(disks: DrbdDisk[]): Promise<(ReplicatedDiskStatus | null)[]> {
    return Promise.all(disks.map((d) => this.replication.status(d.uuid)));
  }

  /** Migration: a second writer opens the disk (dual primary) on the target. */
  open(disks: DrbdDisk[], multimaster: boolean): Promise<void> {
    return each(disks, async (d) => { await this.replication.promote(d.uuid, { multimaster }); });
  }

  close(disks: DrbdDisk[]): Promise<void> {
    return each(disks, async (d) => { await this.replication.demote(d.uuid); });
  }

  /**
   * Copies one disk's content over another's (either may be a replica's NBD
   * path): template conversions. `create`: `to` is a new (sparse) file.
   */
  async copy(from: string, to: string, create = false): Promise<void> {
    await execFileP('qemu-img', ['convert', ...(create ? [] : ['-n']), '-f', 'raw', '-O', 'raw', from, to], { maxBuffer: 1 << 20 })
      .catch((e: Error & { stderr?: string }) => { throw new HypervisorFailure(`Cannot copy ${from} to ${to}: ${e.stderr?.trim() || e.message}`); });
  }

  /**
   * OS scripts work on files, and a replicated disk is only reachable over
   * NBD here (no kernel NBD, no DRBD device): they get scratch copies of the
   * disks (sparse, so an empty disk costs nothing), whose content then goes
   * back through the primary's storage daemon, and so to the peer.
   */
  async withScratchFiles<T>(disks: DrbdDisk[], scratchDir: string, fn: (paths: string[]) => Promise<T>): Promise<T> {
    await mkdir(scratchDir, { recursive: true });
    const files = disks.map((d) => path.join(scratchDir, `${d.uuid}.os`));
    try {
      for (const [i, d] of disks.entries()) await this.copy(this.vmPath(d), files[i]!, true);
      const out = await fn(files);
      for (const [i, d] of disks.entries()) await this.copy(files[i]!, this.vmPath(d));
      return out;
    } finally {
      await Promise.all(files.map((f) => rm(f, { force: true })));
    }
  }
}

async function each<T>(items: T[], fn: (t: T) => Promise<void>): Promise<void> {
  for (const item of items) await fn(item);
}
