// File-backed disks (templates `file` and `sharedfile`): sparse raw files under
// the node's storage directory. logical_id is [driver, path relative to it].
import { mkdir, open, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';

export class FileDisks {
  constructor(private root: string) {}

  pathOf(logicalId: unknown): string {
    const rel = Array.isArray(logicalId) ? String(logicalId[1]) : '';
    const abs = path.resolve(this.root, rel);
    // A crafted logical_id must not escape the storage directory.
    if (!rel || !abs.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`Invalid file disk path '${rel}'`);
    return abs;
  }

  async create(logicalId: unknown, sizeMiB: number): Promise<string> {
    const p = this.pathOf(logicalId);
    await mkdir(path.dirname(p), { recursive: true });
    const fh = await open(p, 'wx');
    try {
      await fh.truncate(sizeMiB * 2 ** 20);
    } finally {
      await fh.close();
    }
    return p;
  }

  async remove(logicalId: unknown): Promise<void> {
    const p = this.pathOf(logicalId);
    await rm(p, { force: true });
    await rmdir(path.dirname(p)).catch(() => undefined); // only when empty
  }
}
