// How resources are declared: a path, Ganeti's rlib2 name, and per method the
// access it needs and what it does. Opcode methods are declared as data
// (opcode, static parameters, renames), as in Ganeti's baserlib.OpcodeResource.
import type { RapiRequest } from './request.ts';
import type { Services } from './services.ts';
import { fillOpcode, type Opcode } from '../jobs/opcodes.ts';
import { badRequest } from './errors.ts';

export const METHODS = ['GET', 'PUT', 'POST', 'DELETE'] as const;
export type Method = (typeof METHODS)[number];

/** 'none': anonymous; 'read': read or write option; 'write': write option. */
export type Access = 'none' | 'read' | 'write';

export interface Call {
  req: RapiRequest;
  svc: Services;
  /** rlib2 resource name, e.g. "instances_name_reboot" (used in reason trails). */
  name: string;
}

/** A body the HTTP layer sends as it is, with its own content type. */
export class RawBody {
  constructor(readonly bytes: Buffer, readonly contentType: string) {}
}

/** A pre-serialised JSON body (cached reads). */
export class RawJson extends RawBody {
  constructor(text: string) {
    super(Buffer.from(`${text}\n`), 'application/json');
  }
}

export interface MethodDef {
  access: Access;
  handle(c: Call): unknown | Promise<unknown>;
}

export interface Resource {
  /** Ganeti's path with [item] placeholders, e.g. /2/instances/[instance_name]. */
  path: string;
  name: string;
  methods: Partial<Record<Method, MethodDef>>;
}

/** Ganeti's rlib2 class name without R_2_, derived from the path (override where Ganeti's differs). */
export function rlibName(path: string): string {
  return path.replace(/^\/2\/?/, '')
    .replace(/\[(\w+?)\]/g, (_, w: string) => (w.endsWith('_name') ? 'name' : w.endsWith('_uuid') ? 'uuid' : w === 'job_id' ? 'id' : ''))
    .replace(/[/-]/g, '_').replace(/_+/g, '_').replace(/^_|_$/g, '');
}

export const resource = (path: string, methods: Partial<Record<Method, MethodDef>>, name = rlibName(path)): Resource =>
  ({ path, name, methods });

export const read = (handle: MethodDef['handle'], access: Access = 'none'): MethodDef => ({ access, handle });

/** baserlib._GetCommonStatic: the reason trail every generated opcode carries. */
export function reasonTrail(c: Call): [string, string, number][] {
  const trail: [string, string, number][] = [];
  const user = c.req.str('reason');
  const ns = () => Date.now() * 1e6;
  if (user) trail.push(['gnt:user', user, ns()]);
  trail.push([`gnt:library:rlib2:${c.name}`, '', ns()]);
  return [...trail, ...submitterTrail(c)];
}

/**
 * rapid's own entry, after Ganeti's: who submitted the job (the
 * authenticated user; none for anonymous job-submitting reads).
 */
export function submitterTrail(c: Call): [string, string, number][] {
  return c.req.user ? [['rapid:user', c.req.user.name, Date.now() * 1e6]] : [];
}

export interface OpcodeInput {
  /** Parameters from the URL and query, which the body may not override. */
  statics?: Record<string, unknown>;
  /** Defaults to the request body. */
  body?: unknown;
}

/**
 * A method that submits one opcode (baserlib._GenericHandler): body params +
 * statics + reason trail, Ganeti's validation, then a job. Answers the job id.
 */
export function opcode(opId: string, opts: {
  access?: Access;
  renames?: Record<string, string>;
  input?: (c: Call) => OpcodeInput;
} = {}): MethodDef {
  return {
    access: opts.access ?? 'write',
    handle: (c) => c.svc.submit([buildOpcode(c, opId, opts.input?.(c) ?? {}, opts.renames)]),
  };
}

export function buildOpcode(c: Call, opId: string, input: OpcodeInput, renames?: Record<string, string>): Opcode {
  let body = 'body' in input ? input.body : c.req.body;
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const depends = (c.req.body as Record<string, unknown> | undefined)?.depends;
    body = depends ? { ...body, depends } : { ...body };
  }
  return fillOpcode(opId, body, { reason: reasonTrail(c), ...input.statics }, renames);
}

/** Query flags that map to opcode booleans: dry-run → dry_run etc. */
export const dryRun = (c: Call) => ({ dry_run: c.req.flag('dry-run') });

export function requireDict(body: unknown, what = 'Body contents'): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(`${what}: Type is '${pyType(body)}', but 'dict' is expected`);
  }
  return body as Record<string, unknown>;
}

/** Python's type name of a JSON value, for Ganeti's CheckType messages. */
export function pyType(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  return 'dict';
}
