// Shapes shared by several collections: index lists and tag resources.
import type { Kind, KindMap } from '../../src/model.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import { notFound } from '../errors.ts';
import { dryRun, opcode, read, type Call, type MethodDef, type Method } from '../resource.ts';
import { niceSort } from '../views.ts';

/** baserlib.BuildUriList: [{<key>: name, uri}] in Ganeti's sort order. */
export function uriList(names: Iterable<string>, prefix: string, key: 'id' | 'name' | 'uuid'): unknown[] {
  return niceSort(names).map((n) => ({ [key]: n, uri: `${prefix}${n}` }));
}

type NamedKind = Exclude<Kind, 'cluster'>;

/** The object a tag resource is about; 404 for GETs of missing objects. */
const tagOwner = (c: Call, kind: Kind, param?: string): { tags: string[] } =>
  kind === 'cluster' ? c.svc.cfg.cluster : lookup(c, kind, param!);

/**
 * /2/tags, /2/instances/[n]/tags, ...: GET reads the tags; PUT/DELETE submit
 * OP_TAGS_SET/OP_TAGS_DEL with the tags from repeated ?tag= (body ignored).
 */
export function tagMethods(kind: Kind, param?: string): Partial<Record<Method, MethodDef>> {
  const input = (c: Call) => ({
    body: {},
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

/** The object a URL names (`params[param]`), or 404; `?lock=` is validated like Ganeti. */
export function lookup<K extends NamedKind>(c: Call, kind: K, param: string): KindMap[K] {
  c.req.flag('lock');
  const obj = c.svc.cfg.byName(kind, c.req.params[param]);
  if (!obj) throw notFound();
  return obj;
}

/** A collection's index / bulk listing and single-object lookup. */
export function collection<K extends NamedKind>(
  kind: K, param: string, prefix: string, key: 'id' | 'name',
  dict: (s: Snapshot, obj: KindMap[K]) => Record<string, unknown>,
) {
  return {
    list: read((c) => {
      const objs = c.svc.cfg.all(kind);
      if (!c.req.flag('bulk')) return uriList(objs.map((o) => o.name), prefix, key);
      const byName = new Map(objs.map((o) => [o.name, o]));
      return niceSort(byName.keys()).map((n) => dict(c.svc.cfg, byName.get(n)!));
    }),
    get: (c: Call) => lookup(c, kind, param),
  };
}
