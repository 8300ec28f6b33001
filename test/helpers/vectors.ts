// Ganeti 3.0.2's own RAPI request/response vectors (../shared/reference/
// ganeti-vectors.json, produced by Ganeti's server code over a stub master
// daemon) and what a conformance test needs to replay them against rapid.
import { REFERENCE_DIR } from './reference.ts';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './pids.ts';

export interface Vector {
  name: string;
  request: {
    method: string;
    /** Path with query string, as sent. */
    path: string;
    body: string | null;
    auth_user: string | null;
    content_type: string | null;
  };
  status: number;
  /** Response headers except Date. */
  headers: Record<string, string>;
  /** Exact response body, trailing "\n" included. */
  body: string;
  /**
   * Jobs the request submitted (one list of opcodes per job), each opcode
   * with its reason trail reduced to `reason_sources`; null for no job.
   */
  submitted_ops: Record<string, unknown>[][] | null;
}

export const VECTORS_PATH = path.join(REFERENCE_DIR, 'ganeti-vectors.json');

export function loadVectors(file = VECTORS_PATH): Vector[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Vector[];
}

/** Ganeti's (connector.py) item patterns; every other [item] is a name. */
const ITEM_RE: Record<string, string> = { job_id: '\\d+', disk_index: '\\d+' };
const NAME_RE = '[\\w.-]+';

/** An anchored regex for a resource path with [item] placeholders, matched against decoded segments. */
export function pathRegex(resourcePath: string): RegExp {
  const src = resourcePath
    .split('/')
    .map((seg) => {
      const m = /^\[(\w+)\]$/.exec(seg);
      return m ? `(?:${ITEM_RE[m[1]!] ?? NAME_RE})` : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${src}$`);
}

/** The path part of a request path, percent-decoded per segment (undecodable: left as is). */
export function decodedPath(requestPath: string): string {
  const p = requestPath.split('?')[0]!;
  return p
    .split('/')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    })
    .join('/');
}

export interface ResourceLike {
  path: string;
  methods: Partial<Record<string, unknown>>;
}

/** The resource a request path falls on, if any. */
export function findResource<R extends ResourceLike>(resources: readonly R[], requestPath: string): R | undefined {
  const p = decodedPath(requestPath);
  return resources.find((r) => pathRegex(r.path).test(p));
}

export type ReasonEntry = [string, string, number];

/**
 * An opcode as rapid's job record holds it, in the vectors' form: `reason`
 * (a list of [source, text, epoch_ns]) dropped from its place and its sources
 * appended after OP_ID as `reason_sources`, as the vector generator did.
 */
export function toVectorForm(op: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(op)) if (k !== 'reason') out[k] = v;
  const reason = op.reason;
  out.reason_sources = Array.isArray(reason) ? reason.map((r) => (Array.isArray(r) ? r[0] : r)) : reason;
  return out;
}

/** JSON type name, with arrays and null apart. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function isDict(v: unknown): v is Record<string, unknown> {
  return jsonType(v) === 'object';
}
