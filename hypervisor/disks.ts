// File-backed disks (templates `file` and `sharedfile`): sparse raw files.
// logical_id is [driver, path relative to the template's root]: `file` lives
// in the node's own storage directory, `sharedfile` in the cluster's shared
// file storage directory, which every node mounts at the same path (as
// Ganeti's shared_file_storage_dir), so another node can run the instance.
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { Readable } from 'node:stream';
import path from 'node:path';

export type FileTemplate = 'file' | 'sharedfile';

const MIB = 2 ** 20;

/** Ganeti's bdev errors are "<path>: <what>" (storage/filestorage.py). */
export class DiskError extends Error {}

export class FileDisks {
  constructor(private roots: Record<FileTemplate, string>) {}

  private root(template: string | undefined): string {
    return template === 'sharedfile' ? this.roots.sharedfile : this.roots.file;
  }

  /** Resolve a path below a template's root; a crafted logical_id must not escape it. */
  private below(template: string | undefined, rel: string): string {
    const root = path.resolve(this.root(template));
    const abs = path.resolve(root, rel);
    if (!rel || !abs.startsWith(root + path.sep)) throw new DiskError(`Invalid file disk path '${rel}'`);
    return abs;
  }

  pathOf(logicalId: unknown, template?: string): string {
    return this.below(template, Array.isArray(logicalId) ? String(logicalId[1]) : '');
  }

  /** FileDeviceHelper.CreateFile: a new file (never an existing one), truncated to size. */
  async create(logicalId: unknown, sizeMiB: number, template?: string): Promise<string> {
    const p = this.pathOf(logicalId, template);
    await mkdir(path.dirname(p), { recursive: true });
    let fh;
    try {
      fh = await open(p, 'wx');
    } catch (err) {
      throw new DiskError(`${p}: can't create: ${(err as Error).message}`);
    }
    try {
      await fh.truncate(sizeMiB * MIB);
    } finally {
      await fh.close();
    }
    return p;
  }

  async remove(logicalId: unknown, template?: string): Promise<void> {
    const p = this.pathOf(logicalId, template);
    await rm(p, { force: true });
    await rmdir(path.dirname(p)).catch(() => undefined); // only when empty
  }

  /** FileStorage.Assemble: the file must exist; answers its path. */
  async assemble(logicalId: unknown, template?: string): Promise<string> {
    const p = this.pathOf(logicalId, template);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) throw new DiskError(`${p}: No such file`);
    return p;
  }

  async sizeBytes(logicalId: unknown, template?: string): Promise<number> {
    return (await stat(await this.assemble(logicalId, template))).size;
  }

  /** FileDeviceHelper.Grow: extend by `amountMiB` (sparse); a dry run only checks. */
  async grow(logicalId: unknown, amountMiB: number, dryRun: boolean, template?: string): Promise<number> {
    const p = await this.assemble(logicalId, template);
    if (amountMiB < 0) throw new DiskError(`${p}: can't grow by negative amount`);
    const size = (await stat(p)).size + amountMiB * MIB;
    if (dryRun) return size;
    const fh = await open(p, 'r+');
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
    return size;
  }

  /** backend.RenameFileStorageDir, for an instance's directory of disk files. */
  async renameDir(oldRel: string, newRel: string, template?: string): Promise<void> {
    const from = this.below(template, oldRel);
    const to = this.below(template, newRel);
    const [src, dst] = await Promise.all([stat(from).catch(() => undefined), stat(to).catch(() => undefined)]);
    if (dst) {
      if (src) throw new DiskError(`Cannot rename '${from}' to '${to}': both locations exist`);
      return;
    }
    if (!src?.isDirectory()) throw new DiskError(`Specified storage dir '${from}' is not a directory`);
    await rename(from, to);
  }

  /** blockdev_convert: copy one disk's data into another (already created) disk, keeping holes. */
  async copy(from: { logicalId: unknown; template?: string }, to: { logicalId: unknown; template?: string }): Promise<void> {
    const src = await this.assemble(from.logicalId, from.template);
    const dst = await this.assemble(to.logicalId, to.template);
    await copySparse(src, dst);
  }
}

const CHUNK = 1 * MIB;

/** Copies `src` over the start of `dst`, writing only non-zero chunks so holes stay holes. */
async function copySparse(src: string, dst: string): Promise<void> {
  const [rin, wout] = await Promise.all([open(src, 'r'), open(dst, 'r+')]);
  try {
    const buf = Buffer.alloc(CHUNK);
    for (let pos = 0; ;) {
      const { bytesRead } = await rin.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (!isZero(chunk)) await wout.write(chunk, 0, bytesRead, pos);
      pos += bytesRead;
    }
    await wout.sync();
  } finally {
    await Promise.all([rin.close(), wout.close()]);
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Disk images between nodes, as Ganeti's import/export daemons do it: the
// receiving node listens, the sending node connects and streams one image.
// A one-time secret (`magic`, chosen by the master) is the first line, so
// only the transfer the master arranged is accepted.

export interface ImageReceiver {
  port: number;
  /** Bytes received per file name, once every expected file is complete. */
  done: Promise<Record<string, number>>;
}

/**
 * Listen for `files` to be written into `dir` (each at most once). The
 * receiver gives up when no sender is connected for `idleMs`, so a transfer
 * whose sender failed leaves no listener behind.
 */
export async function receiveImages(dir: string, files: string[], magic: string, idleMs: number): Promise<ImageReceiver> {
  await mkdir(dir, { recursive: true });
  const pending = new Set(files);
  const sizes: Record<string, number> = {};
  let settle!: { resolve: (v: Record<string, number>) => void; reject: (e: Error) => void };
  const done = new Promise<Record<string, number>>((resolve, reject) => { settle = { resolve, reject }; });
  done.catch(() => undefined); // the caller may never ask
  let finished = false;
  let active = 0;
  let idle: NodeJS.Timeout | undefined;
  const finish = (err?: Error) => {
    if (finished) return;
    finished = true;
    clearTimeout(idle);
    server.close();
    if (err) settle.reject(err);
    else settle.resolve(sizes);
  };
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => finish(new Error(`no sender connected within ${idleMs / 1000}s`)), idleMs);
  };
  // Half-open: the sender ends its side when done and still reads our answer.
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    active++;
    clearTimeout(idle);
    void receiveOne(sock, dir, magic, pending).then((r) => {
      if (r) sizes[r.file] = r.bytes;
      if (Object.keys(sizes).length === files.length) finish();
    }).finally(() => {
      if (--active === 0 && !finished) arm();
    });
  });
  if (!files.length) finish();
  else arm();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, () => resolve());
  });
  return { port: (server.address() as net.AddressInfo).port, done };
}

async function receiveOne(sock: net.Socket, dir: string, magic: string, pending: Set<string>): Promise<{ file: string; bytes: number } | null> {
  const head = await readHeader(sock);
  const [gotMagic, file] = (head?.line ?? '').split(' ');
  const expected = Buffer.from(magic);
  const given = Buffer.from(gotMagic ?? '');
  if (!head || given.length !== expected.length || !timingSafeEqual(given, expected) || !file || !pending.has(file)) {
    sock.destroy();
    return null;
  }
  pending.delete(file);
  let bytes = 0;
  try {
    const fh = await open(path.join(dir, file), 'wx');
    try {
      const blocks = new Blocks(fh);
      await blocks.push(head.rest);
      // Not destroyed at the end of the data: the answer still goes out on it.
      for await (const chunk of sock.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) await blocks.push(chunk);
      bytes = await blocks.end();
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    sock.end(`error ${(err as Error).message}\n`);
    return null;
  }
  await new Promise<void>((resolve) => sock.end(`ok ${bytes}\n`, () => resolve()));
  return { file, bytes };
}

/** The first line ("<magic> <file>") and whatever data came with it; the socket is left paused. */
function readHeader(sock: net.Socket): Promise<{ line: string; rest: Buffer } | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl >= 0) {
        stop();
        sock.pause();
        resolve({ line: buf.subarray(0, nl).toString('utf8'), rest: buf.subarray(nl + 1) });
      } else if (buf.length > 4096) {
        stop();
        resolve(null);
      }
    };
    const onEnd = () => { stop(); resolve(null); };
    const stop = () => { sock.off('data', onData); sock.off('end', onEnd); sock.off('error', onEnd); };
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('error', onEnd);
  });
}

/** Buffers a stream into whole chunks and writes only non-zero ones, so images stay sparse. */
class Blocks {
  private buf = Buffer.alloc(CHUNK);
  private fill = 0;
  private pos = 0;
  constructor(private fh: FileHandle) {}

  async push(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length;) {
      const n = Math.min(CHUNK - this.fill, data.length - off);
      data.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === CHUNK) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    const chunk = this.buf.subarray(0, this.fill);
    if (!isZero(chunk)) await this.fh.write(chunk, 0, this.fill, this.pos);
    this.pos += this.fill;
    this.fill = 0;
  }

  async end(): Promise<number> {
    await this.flush();
    await this.fh.truncate(this.pos);
    return this.pos;
  }
}

/** Send one image (a file, or a stream such as an OS export script's output) to a receiver; resolves with the bytes the receiver stored. */
export function sendImage(source: string | Readable, host: string, port: number, magic: string, file: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let answer = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`transfer to ${host}:${port} timed out`)); }, timeoutMs);
    const fail = (err: Error) => { clearTimeout(timer); sock.destroy(); reject(err); };
    sock.once('error', fail);
    sock.on('data', (b: Buffer) => { answer += b.toString('utf8'); });
    sock.once('connect', () => {
      sock.write(`${magic} ${file}\n`);
      const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: CHUNK }) : source;
      input.once('error', fail);
      input.pipe(sock);
    });
    sock.once('close', () => {
      clearTimeout(timer);
      const m = /^ok (\d+)/.exec(answer);
      if (m) resolve(Number(m[1]));
      else reject(new Error(answer.startsWith('error ') ? answer.slice(6).trim() : `receiver on ${host}:${port} refused the transfer`));
    });
  });
}

// ---------------------------------------------------------------------------

/**
 * A node's export directory (Ganeti's /var/lib/ganeti/export): one directory
 * per instance holding config.ini and the disk images. An export is written
 * to "<name>.new" and renamed into place once complete (backend.FinalizeExport).
 */
export class ExportStore {
  private receivers = new Map<string, ImageReceiver>();

  constructor(private dir: string) {}

  private pathOf(instance: string, suffix = ''): string {
    const p = path.resolve(this.dir, instance + suffix);
    if (!instance || path.dirname(p) !== path.resolve(this.dir)) throw new DiskError(`Invalid export name '${instance}'`);
    return p;
  }

  /** Start receiving an export's disk images; answers the port senders connect to. */
  async receive(instance: string, files: string[], magic: string, idleMs: number): Promise<number> {
    const staging = this.pathOf(instance, '.new');
    await rm(staging, { recursive: true, force: true });
    const r = await receiveImages(staging, files, magic, idleMs);
    this.receivers.set(instance, r);
    void r.done.finally(() => { if (this.receivers.get(instance) === r) this.receivers.delete(instance); }).catch(() => undefined);
    return r.port;
  }

  /** Write config.ini once every image has arrived, and put the export in place. */
  async finalize(instance: string, configIni: string): Promise<void> {
    const staging = this.pathOf(instance, '.new');
    const pendingImages = this.receivers.get(instance);
    if (pendingImages) await pendingImages.done;
    await mkdir(staging, { recursive: true });
    await writeFile(path.join(staging, 'config.ini'), configIni);
    const final = this.pathOf(instance);
    await rm(final, { recursive: true, force: true });
    await rename(staging, final);
  }

  /** Complete exports on this node (backend.ListExports). */
  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => !n.endsWith('.new')).sort();
  }

  async remove(instance: string): Promise<void> {
    const p = this.pathOf(instance);
    if (!(await stat(p).catch(() => undefined))) throw new DiskError(`Export '${instance}' not found`);
    await rm(p, { recursive: true, force: true });
  }
}
