// One qemu-storage-daemon (QSD): the process that owns one replicated disk
// on one node. It is daemonized, so it outlives the process that started it;
// a later manager finds it again from its pidfile (checked against
// /proc/<pid>/cmdline, so a recycled pid is never mistaken for it) and takes
// over its QMP socket.
//
// Files, per disk id, under <runDir>/disk/:
//   <id>.pid    QSD's --pidfile
//   <id>.qmp    QMP, held by the manager (a QMP socket serves one client)
//   <id>.qmp2   a second QMP socket, left free for diagnostics and tests
//   <id>.log    what QSD printed before it daemonized
//
// Block nodes and exports are the caller's business: it passes --blockdev
// definitions and adds the NBD server and exports over QMP afterwards, so it
// can prepare the nodes (dirty bitmaps) before any client can write.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { HypervisorFailure } from './driver.ts';
import { processAlive } from './kvm.ts';
import { QmpClient, type QmpExecuteOptions } from './qmp.ts';

export interface QsdOptions {
  runDir: string;
  /** Run QSD inside this network namespace (`ip netns exec`); unset when the caller already runs in the node's namespace. */
  netns?: string;
  binary?: string;
  /** Connecting to QMP and each command. */
  qmpTimeoutMs?: number;
  /** quit → SIGTERM → SIGKILL: the wait before each escalation. */
  stopGraceMs?: number;
}

export interface QsdPaths {
  pidfile: string;
  qmp: string;
  spare: string;
  log: string;
}

const UNIX_PATH_MAX = 107;
/** Disk ids become file names and appear in QSD's command line. */
const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function qsdPaths(runDir: string, id: string): QsdPaths {
  if (!VALID_ID.test(id)) throw new HypervisorFailure(`Invalid disk id '${id}'`);
  const dir = path.join(runDir, 'disk');
  return {
    pidfile: path.join(dir, `${id}.pid`),
    qmp: path.join(dir, `${id}.qmp`),
    spare: path.join(dir, `${id}.qmp2`),
    log: path.join(dir, `${id}.log`),
  };
}

/** The pid of the QSD serving `id`, if one runs: the pidfile's process is a QSD started with that pidfile. */
export function qsdPid(runDir: string, id: string): number | null {
  const p = qsdPaths(runDir, id);
  let pid: number;
  try {
    pid = parseInt(fs.readFileSync(p.pidfile, 'utf8'), 10);
  } catch {
    return null;
  }
  if (!(pid > 0) || !processAlive(pid)) return null;
  let argv: string[];
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
  const isQsd = path.basename(argv[0] ?? '').startsWith('qemu-storage-daemon');
  return isQsd && argv.includes(p.pidfile) ? pid : null;
}

export class Qsd {
  private constructor(
    readonly id: string,
    readonly pid: number,
    readonly qmp: QmpClient,
    private readonly o: QsdOptions,
  ) {}

  get paths(): QsdPaths {
    return qsdPaths(this.o.runDir, this.id);
  }

  /** True while the process lives and its monitor connection is open. */
  get alive(): boolean {
    return this.qmp.open && processAlive(this.pid);
  }

  /**
   * Starts a daemonized QSD with these --blockdev nodes and connects to its
   * QMP socket. Fails if one already runs for `id`.
   */
  static async start(o: QsdOptions, id: string, blockdevs: Record<string, unknown>[]): Promise<Qsd> {
    const p = qsdPaths(o.runDir, id);
    for (const f of [p.qmp, p.spare]) {
      if (Buffer.byteLength(f) > UNIX_PATH_MAX) {
        throw new HypervisorFailure(`Cannot start storage daemon for disk ${id}: socket path ${f} is longer than ${UNIX_PATH_MAX} bytes; use a shorter run directory`);
      }
    }
    if (qsdPid(o.runDir, id)) throw new HypervisorFailure(`Storage daemon for disk ${id} is already running`);
    await mkdir(path.dirname(p.pidfile), { recursive: true });
    await Promise.all([p.pidfile, p.qmp, p.spare].map((f) => rm(f, { force: true })));
    const argv = [
      o.binary ?? 'qemu-storage-daemon', '--daemonize', '--pidfile', p.pidfile,
      '--chardev', `socket,id=qmp,path=${p.qmp},server=on,wait=off`, '--monitor', 'chardev=qmp',
      '--chardev', `socket,id=qmp2,path=${p.spare},server=on,wait=off`, '--monitor', 'chardev=qmp2',
      ...blockdevs.flatMap((b) => ['--blockdev', JSON.stringify(b)]),
    ];
    const cmd = o.netns ? ['ip', 'netns', 'exec', o.netns, ...argv] : argv;
    // The daemon's stdio goes to the log, not a pipe it would hold open for its whole life.
    const log = await open(p.log, 'w');
    let code: number | null;
    try {
      code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', log.fd, log.fd] });
        child.once('error', reject);
        child.once('exit', (c, sig) => resolve(sig ? 128 : c));
      });
    } catch (err) {
      throw new HypervisorFailure(`Cannot start storage daemon for disk ${id}: ${(err as Error).message}`);
    } finally {
      await log.close();
    }
    if (code !== 0) {
      const output = (await readFile(p.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join('\n');
      await Promise.all([p.pidfile, p.qmp, p.spare].map((f) => rm(f, { force: true })));
      throw new HypervisorFailure(`Cannot start storage daemon for disk ${id}: exit code ${code}: ${output}`);
    }
    const pid = qsdPid(o.runDir, id);
    if (!pid) throw new HypervisorFailure(`Storage daemon for disk ${id} exited right after starting`);
    try {
      const qmp = await QmpClient.connect(p.qmp, { timeoutMs: o.qmpTimeoutMs ?? 10_000 });
      return new Qsd(id, pid, qmp, o);
    } catch (err) {
      await killPid(pid, o.stopGraceMs ?? 3_000);
      throw new HypervisorFailure(`Storage daemon for disk ${id} does not answer on QMP: ${(err as Error).message}`);
    }
  }

  /**
   * Takes over a running QSD (after a restart of the manager). Null when
   * none runs; its leftover pidfile and sockets are removed then.
   */
  static async adopt(o: QsdOptions, id: string): Promise<Qsd | null> {
    const pid = qsdPid(o.runDir, id);
    const p = qsdPaths(o.runDir, id);
    if (!pid) {
      await Promise.all([p.pidfile, p.qmp, p.spare].map((f) => rm(f, { force: true })));
      return null;
    }
    try {
      const qmp = await QmpClient.connect(p.qmp, { timeoutMs: o.qmpTimeoutMs ?? 10_000 });
      return new Qsd(id, pid, qmp, o);
    } catch (err) {
      throw new HypervisorFailure(`Storage daemon for disk ${id} (pid ${pid}) runs but its QMP socket does not answer: ${(err as Error).message}`);
    }
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: QmpExecuteOptions = {}): Promise<T> {
    return this.qmp.execute<T>(command, args, { timeoutMs: opts.timeoutMs ?? this.o.qmpTimeoutMs ?? 10_000 });
  }

  /** Ends QSD: `quit`, then SIGTERM, then SIGKILL; removes its run files. */
  async stop(): Promise<void> {
    const grace = this.o.stopGraceMs ?? 3_000;
    if (this.qmp.open) await this.qmp.execute('quit', undefined, { timeoutMs: grace }).catch(() => undefined);
    this.qmp.destroy();
    if (!(await waitGone(this.pid, grace))) await killPid(this.pid, grace);
    await removeRunFiles(this.o.runDir, this.id);
  }

  /** Lets go of the monitor; QSD keeps running. */
  async release(): Promise<void> {
    await this.qmp.close();
  }
}

/** Stops whatever QSD serves `id`, without a monitor (another process may hold it). */
export async function killQsd(o: QsdOptions, id: string): Promise<void> {
  const pid = qsdPid(o.runDir, id);
  if (pid) await killPid(pid, o.stopGraceMs ?? 3_000);
  await removeRunFiles(o.runDir, id);
}

async function removeRunFiles(runDir: string, id: string): Promise<void> {
  const p = qsdPaths(runDir, id);
  await Promise.all([p.pidfile, p.qmp, p.spare].map((f) => rm(f, { force: true })));
}

async function killPid(pid: number, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => { try { process.kill(pid, s); } catch { /* gone */ } };
  signal('SIGTERM');
  if (await waitGone(pid, graceMs)) return;
  signal('SIGKILL');
  if (!(await waitGone(pid, 5_000))) throw new HypervisorFailure(`Storage daemon ${pid} survives SIGKILL`);
}

/** Polls until the process is gone (or a zombie); false when `ms` passed first. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + Math.max(0, ms);
  while (processAlive(pid)) {
    if (Date.now() >= end) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Remote IPv4 addresses with an established TCP connection to `localPort`
 * in the network namespace of process `pid` (its /proc/<pid>/net/tcp): who
 * is connected to a daemon's NBD server. QEMU 7.2 has no QMP query for NBD
 * clients.
 */
export function tcpClients(pid: number, localPort: number): string[] {
  const out: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '01') continue; // 01 = ESTABLISHED
      const [lAddr, lPort] = f[1]!.split(':');
      const [rAddr] = f[2]!.split(':');
      if (parseInt(lPort!, 16) !== localPort || !lAddr) continue;
      const ip = hexToIPv4(rAddr!);
      if (ip) out.push(ip);
    }
  }
  return out;
}

/** /proc/net/tcp writes addresses as host-order hex words; tcp6 holds IPv4 as ::ffff:a.b.c.d. */
function hexToIPv4(hex: string): string | null {
  let word: string;
  if (hex.length === 8) word = hex;
  else if (hex.length === 32 && hex.slice(0, 24) === '0000000000000000FFFF0000') word = hex.slice(24);
  else return null;
  const n = parseInt(word, 16);
  // Little-endian hosts (x86, arm64) print the first octet in the lowest byte.
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}
