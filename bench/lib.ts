// Small pieces shared by the benchmark's main script and its helper threads:
// a keep-alive HTTPS client, a fixed-concurrency load loop and statistics.
// No external load tool: Node's own https client with a keep-alive Agent
// whose maxSockets equals the concurrency.
import https from 'node:https';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';

export interface Reply {
  status: number;
  text: string;
}

export class Client {
  readonly agent: https.Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly auth: string | undefined;

  constructor(baseUrl: string, ca: string, opts: { user?: string; password?: string; maxSockets: number }) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    const certs = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!certs) throw new Error('no certificate in the CA text');
    const host = this.host;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets,
      ca: certs,
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
    });
    if (opts.user !== undefined) {
      this.auth = 'Basic ' + Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64');
    }
  }

  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = {};
    let data: string | undefined;
    if (body !== undefined) {
      data = JSON.stringify(body);
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(data));
    }
    if (this.auth) headers.authorization = this.auth;
    return new Promise((resolve, reject) => {
      const req = https.request({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  async json(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.request(method, path, body);
    if (r.status !== 200) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text);
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Runs `fn(i)` for i = 0, 1, … from `conc` concurrent loops until `n` calls
 * were started or `durationMs` has passed (whichever comes first).
 */
export async function loop(opts: { conc: number; n?: number; durationMs?: number }, fn: (i: number) => Promise<void>): Promise<{ count: number; ms: number }> {
  const n = opts.n ?? Infinity;
  const t0 = performance.now();
  const end = opts.durationMs === undefined ? Infinity : t0 + opts.durationMs;
  let next = 0;
  let done = 0;
  const runner = async () => {
    while (next < n && performance.now() < end) {
      const i = next++;
      await fn(i);
      done++;
    }
  };
  await Promise.all(Array.from({ length: opts.conc }, runner));
  return { count: done, ms: performance.now() - t0 };
}

/** Percentile by nearest rank. */
export function pct(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ganeti [sec, usec] timestamp → ms since the epoch. */
export const tsMs = (t: [number, number]) => t[0] * 1000 + t[1] / 1000;

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}
