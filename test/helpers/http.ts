// A minimal RAPI client for tests: raw status, headers and body, so tests can
// check exactly what a Ganeti client would see.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';

export interface Target {
  baseUrl: string;
  /** PEM; only its certificates are used (rapi.pem also holds the key). */
  ca?: string;
}

export interface RapiOptions {
  user?: string;
  password?: string;
  /** JSON-encoded unless a string. */
  body?: unknown;
  /** Sent byte for byte (for malformed-body tests). */
  rawBody?: string;
  /** Defaults to application/json when there is a body; null sends none. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

export interface RapiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Parsed body, or undefined when it is not JSON. */
  json: any;
}

export interface Auth {
  user: string;
  password?: string;
}

// One keep-alive agent per server, as a real client would reuse connections.
const agents = new Map<string, http.Agent>();

function agentFor(url: URL, ca: string | undefined): http.Agent {
  const key = `${url.origin} ${ca ?? ''}`;
  let agent = agents.get(key);
  if (!agent) {
    if (url.protocol === 'https:') {
      const certs = (ca ?? '').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (!certs) throw new Error(`https target ${url.origin} needs a ca with a certificate`);
      // Trust only the daemon's own certificate, and check that it is issued
      // for the address we connect to (127.0.0.1 in tests).
      const host = url.hostname.replace(/^\[|\]$/g, '');
      agent = new https.Agent({
        keepAlive: true,
        ca: certs,
        checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
      });
    } else {
      agent = new http.Agent({ keepAlive: true });
    }
    agents.set(key, agent);
  }
  return agent;
}

export async function rapi(
  target: Target,
  method: string,
  path: string,
  opts: RapiOptions = {},
): Promise<RapiResponse> {
  const url = new URL(path, target.baseUrl);
  const agent = agentFor(url, target.ca);
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);

  const headers: Record<string, string> = {};
  if (body !== undefined) {
    headers['content-length'] = String(Buffer.byteLength(body));
    if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
  } else if (opts.contentType) {
    headers['content-type'] = opts.contentType;
  }
  if (opts.user !== undefined) {
    headers.authorization =
      'Basic ' + Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64');
  }
  Object.assign(headers, opts.headers);

  const once = () =>
    new Promise<RapiResponse>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
      });
      req.on('error', (e) => reject(Object.assign(e, { reused: req.reusedSocket })));
      req.end(body);
    });

  try {
    return await once();
  } catch (e) {
    // A kept-alive socket the server closed meanwhile (e.g. a restarted
    // daemon on the same port): the request never arrived, so retry once on
    // a fresh connection, as Node's docs recommend.
    const err = e as NodeJS.ErrnoException & { reused?: boolean };
    if (!err.reused || (err.code !== 'ECONNRESET' && err.code !== 'EPIPE')) throw err;
    return once();
  }
}

const FINAL = new Set(['success', 'error', 'canceled']);

/** Polls GET /2/jobs/<id> until the job is finished; returns the job. */
export async function waitForJob(
  target: Target,
  id: number | string,
  auth?: Auth,
  timeoutMs = 30_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: RapiResponse | undefined;
  for (;;) {
    last = await rapi(target, 'GET', `/2/jobs/${id}`, { user: auth?.user, password: auth?.password });
    if (last.status === 200 && FINAL.has(last.json?.status)) return last.json;
    if (Date.now() > deadline) {
      throw new Error(`job ${id} not finished after ${timeoutMs} ms; last answer ${last.status}: ${last.text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A CA file for clients that pin rapid's certificate: only the certificate
 * blocks of rapi.pem, which also holds the private key.
 */
export function caFile(pem: string, dir: string): string {
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g);
  if (!certs) throw new Error('rapi.pem holds no certificate');
  const file = path.join(dir, 'ca.pem');
  fs.writeFileSync(file, certs.join('\n'));
  return file;
}
