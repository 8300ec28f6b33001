// A private redis-server per test: loopback only, a free port, its own
// directory, no RDB snapshots, so tests never touch a system redis or each
// other's data.
import { spawn, type ChildProcess } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { recordPid, unrecordPid, terminate, waitExit, tempDir } from './pids.ts';

export interface RedisProc {
  url: string;
  /** The same server's unix socket (usable as REDIS_URL from any network namespace). */
  socket: string;
  port: number;
  dir: string;
  /** Changes on restart(). */
  readonly pid: number;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

/** A port that was free a moment ago; callers must cope with losing a race for it. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

class AddrInUse extends Error {}

const READY_TIMEOUT_MS = 10_000;

/** Spawns redis-server and resolves once it accepts connections. */
function launch(port: number, dir: string, aof: boolean): Promise<ChildProcess> {
  const args = [
    '--bind', '127.0.0.1', '--port', String(port),
    // Also a unix socket: node workers inside a test's network namespace reach redis through it.
    '--unixsocket', `${dir}/redis.sock`, '--unixsocketperm', '700',
    '--dir', dir, '--daemonize', 'no', '--logfile', '',
    '--save', '', '--maxmemory-policy', 'noeviction',
    '--appendonly', aof ? 'yes' : 'no',
    // fsync every write, so that persistence tests may also use kill9().
    ...(aof ? ['--appendfsync', 'always'] : []),
  ];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid !== undefined) recordPid(proc.pid, 'redis-server');
  let output = '';
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (proc.pid !== undefined) unrecordPid(proc.pid);
      reject(err);
    };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      fail(new Error(`redis-server not ready after ${READY_TIMEOUT_MS} ms:\n${output}`));
    }, READY_TIMEOUT_MS);
    // Keep reading after start-up too: a full pipe would block redis's logging.
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-65536);
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('error', (err) => fail(new Error(`cannot run redis-server: ${err.message}`)));
    proc.once('exit', (code, signal) => {
      const msg = `redis-server exited (${code ?? signal}) before it was ready:\n${output}`;
      fail(output.includes('Address already in use') ? new AddrInUse(msg) : new Error(msg));
    });
  });
}

export async function startRedis(opts: { aof?: boolean } = {}): Promise<RedisProc> {
  const aof = opts.aof ?? false;
  const dir = tempDir('rapid-redis-');
  let proc: ChildProcess | undefined;
  let port = 0;
  // Another process may grab the port between freePort() and redis binding it.
  for (let attempt = 1; !proc; attempt++) {
    port = await freePort();
    try {
      proc = await launch(port, dir, aof);
    } catch (err) {
      if (!(err instanceof AddrInUse) || attempt >= 5) throw err;
    }
  }
  let current: ChildProcess = proc;

  const stop = async () => {
    await terminate(current, 5000);
    unrecordPid(current.pid!);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    socket: path.join(dir, 'redis.sock'),
    port,
    dir,
    get pid() {
      return current.pid!;
    },
    stop,
    async kill9() {
      current.kill('SIGKILL');
      await waitExit(current);
      unrecordPid(current.pid!);
    },
    async restart() {
      await stop(); // no-op when it has already exited
      current = await launch(port, dir, aof);
    },
  };
}
