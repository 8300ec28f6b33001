// Shapes shared by several collections: index lists and tag resources.
import type { Kind } from '../../src/model.ts';
import { notFound } from '../errors.ts';
import { dryRun, opcode, read, type Call, type MethodDef, type Method } from '../resource.ts';
import { niceSort } from '../views.ts';

/** baserlib.BuildUriList: [{<key>: name, uri}] in Ganeti's sort order. */
export function uriList(names: Iterable<string>, prefix: string, key: 'id' | 'name' | 'uuid'): unknown[] {
  return niceSort(names).map((n) => ({ [key]: n, uri: `${prefix}${n}` }));
}

type NamedKind = Exclude<Kind, 'cluster'>;

/** The object a tag resource is about; 404 for GETs of missing objects. */
function tagOwner(c: Call, kind: Kind, param?: string): { tags: string[] } {
  if (kind === 'cluster') return c.svc.cfg.cluster;
  const obj = c.svc.cfg.byName(kind as NamedKind, c.req.params[param!]);
  if (!obj) throw notFound();
  return obj;
}

/**
 * /2/tags, /2/instances/[n]/tags, ...: GET reads the tags; PUT/DELETE submit
 * OP_TAGS_SET/OP_TAGS_DEL with the tags from repeated ?tag= (body ignored).
 */
export function tagMethods(kind: Kind, param?: string): Partial<Record<Method, MethodDef>> {
  const input = (c: Call) => ({
    body: null,
    statics: {
      kind, name: param ? c.req.params[param] : null, tags: c.req.strs('tag'), ...dryRun(c),
    },
  });
  return {
    GET: read((c) => [...tagOwner(c, kind, param).tags]),
    PUT: opcode('OP_TAGS_SET', { input }),
    DELETE: opcode('OP_TAGS_DEL', { input }),
  };
}
