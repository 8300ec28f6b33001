// A QMP (QEMU Machine Protocol) client over a unix socket.
//
// A QMP socket serves one client at a time: a second connection is accepted
// by the kernel but gets no greeting until the first one closes. So every
// consumer owns its connection (the driver holds the control socket of each
// guest; the second, diagnostic socket stays free for tools), and a missing
// greeting is reported as a busy socket rather than waited for forever.
import net from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

/** QEMU answered a command with an error object. */
export class QmpCommandError extends Error {
  constructor(readonly command: string, readonly errorClass: string, readonly desc: string) {
    super(`QMP command '${command}' failed: ${errorClass}: ${desc}`);
  }
}

/** The connection could not be made, timed out, or closed under a command. */
export class QmpConnectionError extends Error {}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** For connecting, the greeting and capabilities negotiation together. */
  timeoutMs?: number;
}

export interface QmpExecuteOptions {
  timeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export class QmpClient {
  readonly greeting: QmpGreeting;
  /** Resolves once the socket is closed, by either side; never rejects. */
  readonly closed: Promise<void>;
  private socket: net.Socket;
  private buffer = '';
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private listeners = new Set<(e: QmpEvent) => void>();
  private isClosed: boolean;

  private constructor(socket: net.Socket, greeting: QmpGreeting, leftover: string) {
    this.socket = socket;
    this.greeting = greeting;
    this.closed = socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
    this.isClosed = socket.destroyed;
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows; pending commands fail there
    socket.once('close', () => this.onClose());
    if (leftover) this.onData(leftover);
    socket.resume();
  }

  /** Connects, reads the greeting and leaves negotiation mode (qmp_capabilities). */
  static async connect(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const { socket, greeting, leftover } = await readGreeting(socketPath, timeoutMs);
    const client = new QmpClient(socket, greeting, leftover);
    try {
      await client.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  get open(): boolean {
    return !this.isClosed;
  }

  /** Runs one command; resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: QmpExecuteOptions = {}): Promise<T> {
    if (this.isClosed) return Promise.reject(new QmpConnectionError(`QMP connection closed; cannot run '${command}'`));
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A late answer to this id is dropped in onMessage.
        this.pending.delete(id);
        reject(new QmpConnectionError(`QMP command '${command}' got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id }) + '\n');
    });
  }

  /** Calls fn for every asynchronous event; returns the unsubscribe function. */
  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * The next event named one of `names` (and accepted by `filter`). Subscribe
   * before triggering it: events that came earlier are not replayed.
   */
  waitEvent(names: string | string[], timeoutMs: number, filter?: (e: QmpEvent) => boolean): Promise<QmpEvent> {
    const wanted = new Set(Array.isArray(names) ? names : [names]);
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        off();
        fn();
      };
      const off = this.onEvent((e) => {
        if (wanted.has(e.event) && (!filter || filter(e))) finish(() => resolve(e));
      });
      const what = [...wanted].join('/');
      const timer = setTimeout(() => finish(() => reject(new QmpConnectionError(`no QMP event ${what} within ${timeoutMs} ms`))), timeoutMs);
      void this.closed.then(() => finish(() => reject(new QmpConnectionError(`QMP connection closed while waiting for ${what}`))));
    });
  }

  /** Ends the connection and waits until the socket is closed. */
  async close(): Promise<void> {
    if (!this.isClosed) this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 1_000);
    await this.closed;
    clearTimeout(timer);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // QEMU only sends JSON; a broken line cannot be matched to anything
      }
      this.onMessage(msg);
    }
  }

  private onMessage(msg: Record<string, unknown>): void {
    if (typeof msg.event === 'string') {
      for (const fn of [...this.listeners]) fn(msg as unknown as QmpEvent);
      return;
    }
    // Answers carry our id; one without (a parse error) belongs to the oldest command.
    const id = typeof msg.id === 'number' ? msg.id : this.pending.keys().next().value;
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('error' in msg) {
      const e = (msg.error ?? {}) as { class?: string; desc?: string };
      p.reject(new QmpCommandError(p.command, e.class ?? 'GenericError', e.desc ?? 'unknown error'));
    } else {
      p.resolve(msg.return);
    }
  }

  private onClose(): void {
    this.isClosed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new QmpConnectionError(`QMP connection closed before '${p.command}' was answered`));
    }
    this.pending.clear();
  }
}

/** Connects and reads the first line, which must be the greeting. */
function readGreeting(socketPath: string, timeoutMs: number): Promise<{ socket: net.Socket; greeting: QmpGreeting; leftover: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.setEncoding('utf8');
    let buf = '';
    let connected = false;
    const fail = (msg: string) => { cleanup(); socket.destroy(); reject(new QmpConnectionError(msg)); };
    const timer = setTimeout(() => fail(connected
      ? `QMP socket ${socketPath} sent no greeting within ${timeoutMs} ms (another client holds it, or QEMU is stuck)`
      : `cannot connect to QMP socket ${socketPath} within ${timeoutMs} ms`), timeoutMs);
    const onConnect = () => { connected = true; };
    const onError = (err: Error) => fail(`cannot connect to QMP socket ${socketPath}: ${err.message}`);
    const onClose = () => fail(`QMP socket ${socketPath} closed before its greeting`);
    const onData = (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let greeting: QmpGreeting;
      try {
        greeting = JSON.parse(buf.slice(0, nl)) as QmpGreeting;
      } catch {
        fail(`QMP socket ${socketPath} sent no JSON greeting`);
        return;
      }
      if (!greeting || typeof greeting !== 'object' || !('QMP' in greeting)) {
        fail(`QMP socket ${socketPath} sent no QMP greeting`);
        return;
      }
      cleanup();
      // Paused until the client attaches its own reader, so nothing is lost.
      socket.pause();
      resolve({ socket, greeting, leftover: buf.slice(nl + 1) });
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect).off('error', onError).off('close', onClose).off('data', onData);
    };
    socket.on('connect', onConnect).on('error', onError).on('close', onClose).on('data', onData);
  });
}
