// rapid's own redis-server when REDIS_URL is unset: a child on a unix socket
// in the data dir, AOF on (jobs must survive a crash), stopped with rapid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isRunning } from './pidfiles.ts';

export interface EmbeddedRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startRedis(dataDir: string, onExit: (code: number | null) => void): Promise<EmbeddedRedis> {
  const dir = path.join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sock = path.join(dir, 'redis.sock');
  const pidFile = path.join(dir, 'redis.pid');
  // A previous rapid that was killed -9 may have left its redis running on
  // this data dir; it is ours, so stop it before starting a fresh one.
  if (existsSync(pidFile)) {
    const old = Number(readFileSync(pidFile, 'utf8').trim());
    if (old && isRunning(old, 'redis-server')) {
      process.kill(old, 'SIGTERM');
      for (let i = 0; i < 100 && isRunning(old, 'redis-server'); i++) await new Promise((r) => setTimeout(r, 50));
    }
  }
  const child: ChildProcess = spawn('redis-server', [
    '--port', '0', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', dir, '--pidfile', pidFile,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no', '--loglevel', 'warning',
  ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }); // own process group: rapid stops it last
  let out = '';
  child.stdout!.on('data', (b) => { out += b; });
  child.stderr!.on('data', (b) => { out += b; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(onExit);
  child.on('error', (err) => { out += String(err); });
  // Ready when the socket accepts connections (redis writes no line at warning level).
  for (let i = 0; ; i++) {
    if (existsSync(sock)) break;
    if (child.exitCode !== null || i > 200) throw new Error(`redis-server did not start: ${out.trim() || 'no output'}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: sock,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM'); // redis fsyncs the AOF on SIGTERM
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
