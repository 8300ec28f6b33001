// /2/query/[resource] (GET ?fields=a,b; PUT {fields, qfilter}) and
// /2/query/[resource]/fields (rlib2 R_2_query, R_2_query_fields). Answered
// from the snapshot and the job store, never through a job. Each resource of
// constants.QR_VIA_RAPI has its own path, so any other name is a 404 before
// authentication, as in Ganeti's connector.
import { badRequest } from '../errors.ts';
import { read, requireDict, resource, type Call, type Resource } from '../resource.ts';
import { QUERY_RESOURCES, queryFields, runQuery, type QueryResource } from '../query/index.ts';

/** rlib2._SplitQueryFields. */
const splitFields = (raw: string): string[] => raw.split(',').map((f) => f.trim());

/** rlib2._GetQueryFields: the first ?fields= value. */
function queryArgFields(c: Call): string[] {
  const raw = c.req.str('fields');
  if (raw === null) throw badRequest("Missing 'fields' query argument");
  return splitFields(raw);
}

function bodyFields(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((f) => typeof f === 'string')) {
    throw badRequest("The 'fields' parameter should be a list of strings");
  }
  return value;
}

function queryResources(what: QueryResource): Resource[] {
  const env = (c: Call) => ({ cfg: c.svc.cfg, jobs: c.svc.jobs, filters: c.svc.filters, exportList: c.svc.exportList });
  return [
    resource(`/2/query/${what}`, {
      // Results may hold sensitive data: read or write users only.
      GET: read((c) => runQuery(env(c), what, queryArgFields(c), null), 'read'),
      PUT: read((c) => {
        const body = requireDict(c.req.body);
        const fields = 'fields' in body ? bodyFields(body.fields) : queryArgFields(c);
        // "filter" is the key clients used before 2.7.
        const qfilter = body.qfilter ?? body.filter ?? null;
        return runQuery(env(c), what, fields, qfilter);
      }, 'read'),
    }, 'query'),
    resource(`/2/query/${what}/fields`, {
      GET: read((c) => {
        const raw = c.req.str('fields');
        return queryFields(what, raw === null ? null : splitFields(raw));
      }),
    }, 'query_fields'),
  ];
}

export const resources: Resource[] = QUERY_RESOURCES.flatMap(queryResources);
