// Query2 latency with a filter over many instances: PUT /2/query/instance as
// ganetimgr and the official client send it, sequentially on one keep-alive
// connection. Called by a benchmark driver with a running rapid:
//
//   const rows = await benchQuery(api, { cfg, nodeUuid });   // api: bench/lib.ts Client (read or write user)
//
// With `cfg` (a ConfigStore on rapid's Redis) and `nodeUuid`, instances are
// first added straight into the config store (ConfigStore.commit, batches of
// 500, as bench/run.ts does) until the cluster has `instances` of them.
import { randomUUID } from 'node:crypto';
import type { ConfigStore } from '../src/store/config.ts';
import type { Instance } from '../src/model.ts';
import { Client, loop, pct, sleep, timed } from './lib.ts';

export interface QueryBenchOptions {
  /** Config store to populate through; without it the cluster is measured as it is. */
  cfg?: ConfigStore;
  /** Primary node of the instances added. */
  nodeUuid?: string;
  /** Instances the cluster should have before measuring. */
  instances?: number;
  /** Requests per case (each case stops after 10 s anyway). */
  reps?: number;
}

export interface QueryBenchCase {
  label: string;
  instances: number;
  /** Rows the filter selects. */
  rows: number;
  bytes: number;
  p50: number;
  p90: number;
  samples: number;
}

const FIELDS = ['name', 'pnode', 'status', 'oper_ram', 'be/maxmem', 'tags'];

const qbName = (i: number) => `qbench${String(i).padStart(5, '0')}.example.com`;
const hex = (n: number) => (n & 255).toString(16).padStart(2, '0');

function qbInstance(i: number, nodeUuid: string, now: number): Instance {
  return {
    uuid: randomUUID(), name: qbName(i), ctime: now, mtime: now, serial_no: 1, tags: ['qbench', `rack:${i % 40}`],
    primary_node: nodeUuid, secondary_nodes: [], os: 'noop', hypervisor: 'fake',
    admin_state: 'down', admin_state_source: 'admin', disk_template: 'diskless', disks: [],
    nics: [{
      uuid: randomUUID(), name: null, mac: `aa:01:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`, ip: null, network: null, nicparams: {},
    }],
    beparams: { maxmem: 128 + (i % 4) * 128 }, hvparams: {}, osparams: {}, network_port: null, forthcoming: false,
  };
}

/** Adds instances until the cluster has `want`; returns how many it has. */
async function populate(api: Client, cfg: ConfigStore | undefined, nodeUuid: string | undefined, want: number): Promise<number> {
  const have = ((await api.json('GET', '/2/instances')) as unknown[]).length;
  if (have >= want || !cfg || !nodeUuid) return have;
  const now = Date.now() / 1000;
  const existing = new Set([...cfg.instances.values()].map((i) => i.name));
  let added = 0;
  let last = '';
  for (let i = 0; have + added < want; ) {
    const batch = [];
    for (; batch.length < 500 && have + added < want; i++) {
      if (existing.has(qbName(i))) continue;
      batch.push({ kind: 'instance' as const, obj: qbInstance(i, nodeUuid, now), isNew: true });
      last = qbName(i);
      added++;
    }
    await cfg.commit(batch);
  }
  // The daemon applies commits from the change feed: wait until it serves the last one.
  const deadline = Date.now() + 30_000;
  while ((await api.request('GET', `/2/instances/${last}`)).status !== 200) {
    if (Date.now() > deadline) throw new Error('rapid did not pick up the populated instances within 30 s');
    await sleep(10);
  }
  return have + added;
}

async function measure(api: Client, label: string, instances: number, body: unknown, reps: number): Promise<QueryBenchCase> {
  const first = await api.request('PUT', '/2/query/instance', body);
  if (first.status !== 200) throw new Error(`${label}: HTTP ${first.status}: ${first.text.slice(0, 300)}`);
  const rows = (JSON.parse(first.text) as { data: unknown[] }).data.length;
  const lat: number[] = [];
  await loop({ conc: 1, n: reps, durationMs: 10_000 }, async () => {
    const [r, ms] = await timed(() => api.request('PUT', '/2/query/instance', body));
    if (r.status !== 200) throw new Error(`${label}: HTTP ${r.status}`);
    lat.push(ms);
  });
  return { label, instances, rows, bytes: Buffer.byteLength(first.text), p50: pct(lat, 50), p90: pct(lat, 90), samples: lat.length };
}

/**
 * p50/p90 of PUT /2/query/instance with filters that scan every instance
 * (regex, tag membership with a comparison) and with ganetimgr's one-name
 * filter, which luxid answers by lookup.
 */
export async function benchQuery(api: Client, opts: QueryBenchOptions = {}): Promise<QueryBenchCase[]> {
  const reps = opts.reps ?? 50;
  const n = await populate(api, opts.cfg, opts.nodeUuid, opts.instances ?? 10_000);
  const some = ((await api.json('PUT', '/2/query/instance', { fields: ['name'], qfilter: ['=~', 'name', '5\\.'] })) as
    { data: [[number, string]][] }).data;
  const oneName = some[Math.floor(some.length / 2)]?.[0]?.[1] ?? '';
  return [
    await measure(api, 'regex on name (=~ "7\\.")', n, { fields: FIELDS, qfilter: ['=~', 'name', '7\\.'] }, reps),
    await measure(api, 'tag and memory (& =[] >=)', n,
      { fields: FIELDS, qfilter: ['&', ['=[]', 'tags', 'rack:7'], ['>=', 'be/maxmem', 256]] }, reps),
    await measure(api, 'live status (== status ADMIN_down), name only', n,
      { fields: ['name'], qfilter: ['!', ['==', 'status', 'ADMIN_down']] }, reps),
    await measure(api, 'ganetimgr one name (| = name)', n, { fields: FIELDS, qfilter: ['|', ['=', 'name', oneName]] }, reps),
  ];
}
