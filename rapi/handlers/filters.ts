// /2/filters: job queue filter rules (rlib2 R_2_filters*). Changes take effect
// directly, not through a job, so a rule can always unblock the queue.
import { badRequest, notFound } from '../errors.ts';
import { pyType, read, resource, type Call, type MethodDef, type Resource } from '../resource.ts';
import { uriList } from './common.ts';
import type { FilterRule } from '../../jobs/filters.ts';

/** The FILTER_RULE_FIELDS of rlib2, in order. */
const FIELDS = ['watermark', 'priority', 'predicates', 'action', 'reason_trail', 'uuid'] as const;
const ruleDict = (r: FilterRule) => Object.fromEntries(FIELDS.map((f) => [f, r[f]]));

/** rlib2.checkFilterParameters. */
function filterParams(body: unknown): [number, unknown[], unknown, unknown[]] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Invalid body contents, not a dictionary');
  const data = body as Record<string, unknown>;
  for (const k of Object.keys(data)) {
    if (!['priority', 'predicates', 'action', 'reason'].includes(k)) {
      throw badRequest(`Invalid body parameters: filter rule doesn't support the parameter '${k}'`);
    }
  }
  const check = <T>(name: string, want: string, ok: (v: unknown) => boolean, dflt: T): T => {
    if (!(name in data)) return dflt;
    if (!ok(data[name])) throw badRequest(`'${name}' parameter: Type is '${pyType(data[name])}', but '${want}' is expected`);
    return data[name] as T;
  };
  return [
    check('priority', 'int', Number.isInteger, 0),
    check('predicates', 'list', Array.isArray, [] as unknown[]),
    data.action ?? 'CONTINUE',
    check('reason', 'list', Array.isArray, [] as unknown[]),
  ];
}

const list: MethodDef = read(async (c) => {
  const rules = await c.svc.filters.list();
  return c.req.flag('bulk') ? rules.map(ruleDict) : uriList(rules.map((r) => r.uuid), '/2/filters/', 'uuid');
});

const write = (uuid: (c: Call) => string | null): MethodDef => ({
  access: 'write',
  handle: (c) => c.svc.filters.replace(uuid(c), ...filterParams(c.req.body)),
});

export const resources: Resource[] = [
  resource('/2/filters', { GET: list, POST: write(() => null) }),
  resource('/2/filters/[filter_uuid]', {
    GET: read(async (c) => {
      const rule = await c.svc.filters.get(c.req.params.filter_uuid);
      if (!rule) throw notFound();
      return ruleDict(rule);
    }),
    PUT: write((c) => c.req.params.filter_uuid),
    DELETE: {
      access: 'write',
      async handle(c) {
        if (!(await c.svc.filters.remove(c.req.params.filter_uuid))) throw notFound();
        return null;
      },
    },
  }),
];
