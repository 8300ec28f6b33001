// /2/jobs, /2/jobs/[id] (GET, DELETE = cancel) and /2/jobs/[id]/wait.
import { isDeepStrictEqual } from 'node:util';
import { badRequest, notFound } from '../errors.ts';
import { read, resource, type Call, type MethodDef, type Resource } from '../resource.ts';
import { J_FIELDS, J_FIELDS_BULK } from '../views.ts';
import { calcStatus, FINALIZED } from '../../jobs/status.ts';
import type { JobRecord } from '../../jobs/store.ts';

/** Job query fields (query.py _GetJobFields), computed from the record. */
const FIELD: Record<string, (r: JobRecord) => unknown> = {
  id: (r) => r.id,
  ops: (r) => r.ops,
  status: (r) => calcStatus(r.opstatus),
  summary: (r) => r.summary,
  opstatus: (r) => r.opstatus,
  received_ts: (r) => r.received_ts,
  start_ts: (r) => r.start_ts,
  end_ts: (r) => r.end_ts,
  oplog: (r) => r.oplog,
  opresult: (r) => r.opresult,
  priority: () => 0,
  oppriority: (r) => r.ops.map((o) => o.priority ?? 0),
};

function jobDict(r: JobRecord | null, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = r ? FIELD[f](r) : null;
  return out;
}

const jobId = (c: Call) => Number(c.req.params.job_id);

export const list: MethodDef = read(async (c) => {
  const ids = await c.svc.jobs.liveIds();
  if (!c.req.flag('bulk')) return ids.map((id) => ({ id, uri: `/2/jobs/${id}` }));
  const recs = await c.svc.jobs.getMany(ids);
  return recs.filter((r): r is JobRecord => r !== null).map((r) => jobDict(r, J_FIELDS_BULK));
});

/**
 * An unknown id answers every field null, as Ganeti 3.0.2 does (decisions.md);
 * `?strict=1` turns that into a 404.
 */
export const one: MethodDef = read(async (c) => {
  const rec = await c.svc.jobs.get(jobId(c));
  if (!rec && c.req.flag('strict')) throw notFound();
  await c.svc.cfg.caughtUp(rec?.cfg_serial);
  return jobDict(rec, J_FIELDS);
});

export const cancel: MethodDef = { access: 'write', handle: (c) => c.svc.queue.cancel(jobId(c)) };

/**
 * Long-poll: answer as soon as the requested fields differ from
 * previous_job_info or new log entries exist, at once for finished jobs,
 * otherwise after the wait timeout with the unchanged state.
 */
export const wait: MethodDef = {
  access: 'write',
  async handle(c) {
    const body = c.req.body as Record<string, unknown> | undefined;
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body) || !('fields' in body)) {
      throw badRequest("Required parameter 'fields' is missing");
    }
    const fields = body.fields;
    if (!Array.isArray(fields)) throw badRequest("The 'fields' parameter should be a list");
    const unknown = fields.find((f) => typeof f !== 'string' || !(f in FIELD));
    if (unknown !== undefined) throw badRequest(`Unknown job field '${String(unknown)}'`);
    const prevInfo = body.previous_job_info ?? null;
    if (prevInfo !== null && !Array.isArray(prevInfo)) throw badRequest("The 'previous_job_info' parameter should be a list");
    const prevSerial = body.previous_log_serial ?? null;
    if (prevSerial !== null && !Number.isInteger(prevSerial)) throw badRequest("The 'previous_log_serial' parameter should be a number");

    const id = jobId(c);
    const deadline = Date.now() + c.svc.settings.waitTimeout * 1000;
    for (;;) {
      const next = c.svc.watch.next(id, Math.max(0, deadline - Date.now()));
      try {
        const rec = await c.svc.jobs.get(id);
        if (!rec) throw notFound();
        await c.svc.cfg.caughtUp(rec.cfg_serial);
        const info = fields.map((f: string) => FIELD[f](rec));
        const logs = await c.svc.jobs.logSince(id, (prevSerial as number | null) ?? 0);
        const changed = FINALIZED.has(calcStatus(rec.opstatus)) || logs.length > 0 || !isDeepStrictEqual(info, prevInfo);
        if (changed || Date.now() >= deadline) return { job_info: info, log_entries: logs };
        await next.changed;
      } finally {
        next.cancel();
      }
    }
  },
};


export const resources: Resource[] = [
  resource('/2/jobs', { GET: list }),
  resource('/2/jobs/[job_id]', { GET: one, DELETE: cancel }),
  resource('/2/jobs/[job_id]/wait', { GET: wait }),
];
