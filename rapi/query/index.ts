// Running a query2 request (luxid's Query/Query.hs genericQuery): select the
// fields, compile the filter once, gather the resource's rows in Ganeti's
// order, keep the rows the filter accepts and answer [status, value] per
// selected field. Getters run only for the fields asked for or filtered on.
import type { Kind, KindMap, Node } from '../../src/model.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { JobStore, JobRecord } from '../../jobs/store.ts';
import type { LockRequest } from '../../jobs/locks.ts';
import { OpPrereqError } from '../../jobs/errors.ts';
import { opImpl } from '../../jobs/ops/index.ts';
import { niceSort } from '../views.ts';
import { compileFilter, nameMatch, requestedNames, type CompiledFilter } from '../../src/qlang/filter.ts';
import {
  Abnormal, EXPORT_FIELDS, FILTER_FIELDS, GROUP_FIELDS, GroupRow, INSTANCE_FIELDS, InstanceRow, JOB_FIELDS,
  JOB_RECORD_FIELDS, LOCK_FIELDS, NETWORK_FIELDS, NODE_FIELDS, NetworkRow, NodeRow, RS_NORMAL, RS_UNKNOWN,
  unknownField, type ExportRow, type Field, type FieldDef, type FieldTable, type FilterRuleRow, type JobRow,
  type LockRow,
} from './fields.ts';

/** constants.QR_VIA_RAPI: what /2/query/<resource> serves. */
export const QUERY_RESOURCES = ['instance', 'node', 'group', 'network', 'job', 'export', 'lock', 'filter'] as const;
export type QueryResource = (typeof QUERY_RESOURCES)[number];

/** What a query reads. */
export interface QueryEnv {
  cfg: ConfigStore;
  jobs: JobStore;
  /**
   * The export names a node holds (its export.list step); rejects when the
   * node does not answer. Without it, answering nodes list no exports.
   */
  exportList?: (nodeName: string) => Promise<string[]>;
  /** Job filter rules (/2/filters). */
  filters?: { list(): Promise<readonly object[]> };
}

export type ResultEntry = [number, unknown];

/** objects.QueryResponse. */
export interface QueryResult {
  fields: FieldDef[];
  data: ResultEntry[][];
}

interface Source<R> {
  fields: FieldTable<R>;
  /** Query.hs nameField: filters on it alone name the rows to look up (null: never). */
  namefield: string | null;
  /**
   * The rows in Ganeti's order: those `wanted` names (as asked, repeats
   * kept), or all of them. `need` holds every field the query reads.
   */
  rows(env: QueryEnv, wanted: unknown[] | null, need: ReadonlySet<string>): R[] | Promise<R[]>;
}

const source = <R>(s: Source<R>): Source<unknown> => s as Source<unknown>;

const SOURCES: Record<QueryResource, Source<unknown>> = {
  instance: source({
    fields: INSTANCE_FIELDS,
    namefield: 'name',
    rows: ({ cfg }, wanted) => configRows(cfg, 'instance', wanted).map((i) => new InstanceRow(cfg, i)),
  }),
  node: source({
    fields: NODE_FIELDS,
    namefield: 'name',
    rows: ({ cfg }, wanted) => configRows(cfg, 'node', wanted).map((n) => new NodeRow(cfg, n)),
  }),
  group: source({
    fields: GROUP_FIELDS,
    namefield: 'name',
    rows: ({ cfg }, wanted) => configRows(cfg, 'nodegroup', wanted).map((g) => new GroupRow(cfg, g)),
  }),
  network: source({
    fields: NETWORK_FIELDS,
    namefield: 'name',
    rows: ({ cfg }, wanted) => configRows(cfg, 'network', wanted).map((n) => new NetworkRow(cfg, n)),
  }),
  export: source({
    fields: EXPORT_FIELDS,
    namefield: 'node',
    rows: (env, wanted) => exportRows(env, configRows(env.cfg, 'node', wanted)),
  }),
  job: source({ fields: JOB_FIELDS, namefield: 'id', rows: jobRows }),
  lock: source({ fields: LOCK_FIELDS, namefield: null, rows: lockRows }),
  filter: source<FilterRuleRow>({ fields: FILTER_FIELDS, namefield: null, rows: async (env) => ((await env.filters?.list()) ?? []) as FilterRuleRow[] }),
};

/**
 * A query2 request: the definitions of `fields` (unknown ones included, as
 * RS_UNKNOWN columns) and one row per item the filter accepts.
 */
export async function runQuery(env: QueryEnv, what: QueryResource, fields: string[], qfilter: unknown): Promise<QueryResult> {
  const src = SOURCES[what];
  const selected = fields.map((name) => src.fields.get(name));
  const filter: CompiledFilter<unknown> | null =
    qfilter === null || qfilter === undefined ? null : compileFilter(qfilter, (name) => src.fields.get(name));
  const need = new Set([...fields.filter((n) => src.fields.has(n)), ...(filter?.fields ?? [])]);
  // The filter compiled, so these values have the name field's type.
  const wanted = src.namefield === null ? null : requestedNames(qfilter, src.namefield);
  const rows = await src.rows(env, wanted?.length ? wanted : null, need);
  const data: ResultEntry[][] = [];
  for (const row of rows) {
    if (filter && !filter.test(row)) continue;
    data.push(selected.map((f) => entry(f, row)));
  }
  return { fields: fields.map((name, i) => selected[i]?.def ?? unknownField(name)), data };
}

function entry(f: Field<unknown> | undefined, row: unknown): ResultEntry {
  if (!f) return [RS_UNKNOWN, null];
  const v = f.get(row);
  if (v instanceof Abnormal) return [v.status, null];
  return [RS_NORMAL, v];
}

const ALL_FIELDS = new Map<QueryResource, FieldDef[]>();

/** objects.QueryFieldsResponse: the named fields in order, or all of them nice-sorted by name. */
export function queryFields(what: QueryResource, fields: string[] | null): { fields: FieldDef[] } {
  const table = SOURCES[what].fields;
  if (fields === null) {
    let all = ALL_FIELDS.get(what);
    if (!all) ALL_FIELDS.set(what, (all = niceSort(table.keys()).map((name) => table.get(name)!.def)));
    return { fields: all };
  }
  return { fields: fields.map((name) => table.get(name)?.def ?? unknownField(name)) };
}

// ---------------------------------------------------------------------------
// Configuration objects.

type Named = Exclude<Kind, 'cluster'>;

/** Config.hs getItem: what an error calls each kind. */
const KIND_LABEL: Record<Named, string> = { instance: 'Instance', node: 'Node', nodegroup: 'NodeGroup', network: 'Network' };

function objects<K extends Named>(s: Snapshot, kind: K): ReadonlyMap<string, KindMap[K]> {
  const maps = { instance: s.instances, node: s.nodes, nodegroup: s.groups, network: s.networks };
  return maps[kind] as ReadonlyMap<string, KindMap[K]>;
}

/** The wanted objects in the order asked, or all nice-sorted by name. */
function configRows<K extends Named>(s: Snapshot, kind: K, wanted: unknown[] | null): KindMap[K][] {
  return wanted ? wanted.map((name) => lookupObject(s, kind, name as string)) : sortedByName(s, kind);
}

/**
 * Config.hs getInstance / getNode / ...: by uuid, then by name, where a
 * unique leading part of a name is enough ("web1" for "web1.example.com").
 */
function lookupObject<K extends Named>(s: Snapshot, kind: K, key: string): KindMap[K] {
  const all = objects(s, kind);
  const found = all.get(key) ?? s.byName(kind, key);
  if (found) return found;
  let partial: KindMap[K] | undefined;
  let multiple = false;
  for (const obj of all.values()) {
    if (nameMatch(obj.name, key) === null) continue;
    multiple = partial !== undefined;
    partial = obj;
    if (multiple) break;
  }
  if (multiple) throw new OpPrereqError(`${KIND_LABEL[kind]} name ${key} has multiple matches`, 'unknown_entity');
  if (!partial) throw new OpPrereqError(`${KIND_LABEL[kind]} name ${key} not found`, 'unknown_entity');
  return partial;
}

/** Sorting 10 000 names costs milliseconds: once per configuration serial. */
const sortedCache = new WeakMap<Snapshot, Map<Named, { serial: number; list: unknown[] }>>();

function sortedByName<K extends Named>(s: Snapshot, kind: K): KindMap[K][] {
  let perKind = sortedCache.get(s);
  if (!perKind) sortedCache.set(s, (perKind = new Map()));
  const hit = perKind.get(kind);
  if (hit && hit.serial === s.serial) return hit.list as KindMap[K][];
  const byName = new Map([...objects(s, kind).values()].map((o) => [o.name, o]));
  const list = niceSort(byName.keys()).map((n) => byName.get(n)!);
  perKind.set(kind, { serial: s.serial, list });
  return list;
}

// ---------------------------------------------------------------------------
// Exports (Query/Export.hs): a row per export each node lists, and a row
// without export for a node that could not be asked.

async function exportRows(env: QueryEnv, nodes: Node[]): Promise<ExportRow[]> {
  const lists = await Promise.all(nodes.map(async (node): Promise<ExportRow[]> => {
    if (node.offline) return [{ node, export: Abnormal.OFFLINE }];
    if (!env.cfg.liveRuntime(node.uuid)) return [{ node, export: Abnormal.NODATA }];
    if (!env.exportList) return [];
    try {
      return (await env.exportList(node.name)).map((name) => ({ node, export: name }));
    } catch {
      return [{ node, export: Abnormal.NODATA }];
    }
  }));
  return lists.flat();
}

// ---------------------------------------------------------------------------
// Jobs (Query.hs queryJobs): the live jobs by id, or the ids asked for, a
// missing one as a row with only its id.

async function jobRows(env: QueryEnv, wanted: unknown[] | null, need: ReadonlySet<string>): Promise<JobRow[]> {
  const live = await env.jobs.liveIds();
  const liveSet = new Set(live);
  const ids = wanted ? [...new Set(wanted as number[])] : live;
  // Job records are loaded only when a field other than the id is read.
  let recs: (JobRecord | null)[] = ids.map(() => null);
  if ([...need].some((f) => JOB_RECORD_FIELDS.has(f))) {
    // getMany leaves out the logs; oplog needs each job in full.
    recs = need.has('oplog') ? await Promise.all(ids.map((id) => env.jobs.get(id))) : await env.jobs.getMany(ids);
  }
  return ids.map((id, i) => ({ id, rec: recs[i] ?? null, archived: !liveSet.has(id) }));
}

// ---------------------------------------------------------------------------
// Locks (Query/Locks.hs). An opcode takes all its locks when it starts
// running and drops them when it ends, in the same step as its status
// (jobs/store.ts), so the running opcodes of unfinished jobs are exactly the
// holders, and waiting ones the waiters.

/** Ganeti's lock names (Locking/Locks.hs lockName): "cluster/BGL", "instance/<name>", ... */
const ganetiLockName = (l: LockRequest): string => (l.level === 'cluster' ? 'cluster/BGL' : `${l.level}/${l.name}`);
const lockMode = (l: LockRequest) => (l.shared ? 'shared' : 'exclusive') as 'shared' | 'exclusive';

/** The locks an opcode takes; none if it cannot say (it then fails before locking). */
function opLocks(op: JobRecord['ops'][number], cfg: ConfigStore): LockRequest[] {
  try {
    return opImpl(op.OP_ID).locks(op, cfg);
  } catch {
    return [];
  }
}

async function lockRows(env: QueryEnv): Promise<LockRow[]> {
  const recs = (await env.jobs.getMany(await env.jobs.pendingIds())).filter((r): r is JobRecord => r !== null);
  const rows = new Map<string, LockRow>();
  const row = (name: string): LockRow => {
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { name, mode: null, owner: [], pending: [] }));
    return r;
  };
  const waiting: [string, LockRequest[]][] = [];
  for (const rec of recs) {
    const i = rec.opstatus.findIndex((st) => st === 'running' || st === 'waiting');
    if (i < 0) continue;
    const locks = opLocks(rec.ops[i]!, env.cfg);
    if (rec.opstatus[i] === 'waiting') {
      waiting.push([String(rec.id), locks]);
      continue;
    }
    for (const l of locks) {
      const r = row(ganetiLockName(l));
      r.owner.push(String(rec.id));
      if (r.mode !== 'exclusive') r.mode = lockMode(l);
    }
  }
  // A waiting opcode waits on each lock it cannot have now (dependency waits have none).
  for (const [owner, locks] of waiting) {
    for (const l of locks) {
      const held = rows.get(ganetiLockName(l));
      if (!held?.owner.length || (held.mode === 'shared' && l.shared)) continue;
      held.pending.push([lockMode(l), [owner]]);
    }
  }
  return niceSort(rows.keys()).map((n) => rows.get(n)!);
}

