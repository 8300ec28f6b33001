// The cluster configuration: durable in one Redis hash, mirrored in memory by
// every process that serves reads or runs jobs. Writes are atomic batches
// with per-object compare-and-set on serial_no, so a write never lands on a
// state its author did not see and nothing is ever half-written.
import type { Redis } from 'ioredis';
import { K } from './keys.ts';
import { Script } from './script.ts';
import type { Snapshot } from './snapshot.ts';
import type { Cluster, Kind, KindMap, NodeRuntime } from '../model.ts';

type AnyObj = KindMap[Kind];
type Change = { kind: Kind; uuid: string; obj: AnyObj | null };

/** Workers heartbeat every few seconds; silence this long means "node down". */
export const RUNTIME_TTL_MS = 10_000;

// Each object's serial_no is also kept in a small hash, so the check does not
// have to decode the object's JSON. KEYS: config, serial counter, channel, serials.
const COMMIT = new Script(`
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local field, expected = ARGV[2 + i * 3], tonumber(ARGV[3 + i * 3])
  local cur = redis.call('HGET', KEYS[4], field)
  if not cur and redis.call('HEXISTS', KEYS[1], field) == 1 then
    cur = cjson.decode(redis.call('HGET', KEYS[1], field)).serial_no
  end
  if expected < 0 then
    if cur then return {-1, field} end
  elseif tonumber(cur) ~= expected then
    return {-1, field}
  end
end
for i = 0, n - 1 do
  local field, value = ARGV[2 + i * 3], ARGV[4 + i * 3]
  if value == '' then
    redis.call('HDEL', KEYS[1], field)
    redis.call('HDEL', KEYS[4], field)
  else
    redis.call('HSET', KEYS[1], field, value)
    redis.call('HSET', KEYS[4], field, ARGV[3 + n * 3 + i])
  end
end
local serial = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], '{"serial":' .. serial .. ',"changes":' .. ARGV[2 + n * 3] .. '}')
return {serial, ''}
`);

export class ConflictError extends Error {}

const fieldOf = (kind: Kind, uuid: string) => `${kind}:${uuid}`;

export class ConfigStore implements Snapshot {
  serial = 0;
  private maps: { [k in Kind]: Map<string, AnyObj> } = {
    cluster: new Map(), node: new Map(), nodegroup: new Map(), instance: new Map(), network: new Map(),
  };
  /** Config serial at which each object (or its deletion) was last applied. */
  private applied = new Map<string, number>();
  private names: { [k in Kind]: Map<string, string> } = {
    cluster: new Map(), node: new Map(), nodegroup: new Map(), instance: new Map(), network: new Map(),
  };
  private runtimes = new Map<string, NodeRuntime & { seq?: number }>();
  private sub: Redis | undefined;
  private listeners = new Set<(changes: Change[]) => void>();

  constructor(private redis: Redis) {}

  /** Load everything and follow changes made by any process. */
  async start(subscriber: Redis): Promise<void> {
    this.sub = subscriber;
    await subscriber.subscribe(K.configChanged, K.runtimeChanged);
    subscriber.on('message', (channel: string, msg: string) => {
      if (channel === K.configChanged) {
        const { serial, changes } = JSON.parse(msg) as { serial: number; changes: Change[] };
        this.apply(serial, changes);
      } else if (channel === K.runtimeChanged) {
        this.applyRuntime(JSON.parse(msg) as NodeRuntime & { seq: number });
      }
    });
    // A reconnect may have lost messages: reload from the durable copy.
    subscriber.on('ready', () => void this.reload().catch(() => undefined));
    await this.reload();
  }

  async reload(): Promise<void> {
    const [all, serial] = await Promise.all([this.redis.hgetall(K.config), this.redis.get(K.configSerial)]);
    const s = Number(serial ?? 0);
    const changes: Change[] = [];
    const seen = new Set<string>();
    for (const [field, json] of Object.entries(all)) {
      const i = field.indexOf(':');
      const kind = field.slice(0, i) as Kind;
      const uuid = field.slice(i + 1);
      seen.add(field);
      changes.push({ kind, uuid, obj: JSON.parse(json) });
    }
    for (const kind of Object.keys(this.maps) as Kind[]) {
      for (const uuid of this.maps[kind].keys()) {
        if (!seen.has(fieldOf(kind, uuid))) changes.push({ kind, uuid, obj: null });
      }
    }
    this.apply(s, changes, true);
    const keys = [...this.maps.node.keys()].map(K.runtime);
    if (keys.length) {
      for (const v of await this.redis.mget(...keys)) if (v) this.applyRuntime(JSON.parse(v));
    }
  }

  /**
   * Wait (briefly) until this process has applied config serial `serial`:
   * a job finished by another process may have changed objects a client
   * reads next, and the change travels by pub/sub.
   */
  async caughtUp(serial: number | undefined, timeoutMs = 500): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (serial !== undefined && this.serial < serial && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Objects of one kind straight from Redis, without loading the rest (a
   * joining node needs the nodes and the cluster, not 10 000 instances).
   */
  static async readKind<T extends Kind>(redis: Redis, kind: T): Promise<KindMap[T][]> {
    const out: KindMap[T][] = [];
    let cursor = '0';
    do {
      const [next, flat] = await redis.hscan(K.config, cursor, 'MATCH', `${kind}:*`, 'COUNT', 1000);
      for (let i = 1; i < flat.length; i += 2) out.push(JSON.parse(flat[i]) as KindMap[T]);
      cursor = next;
    } while (cursor !== '0');
    return out;
  }

  onChange(fn: (changes: Change[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private apply(serial: number, changes: Change[], force = false): void {
    const done: Change[] = [];
    for (const c of changes) {
      const key = fieldOf(c.kind, c.uuid);
      if (!force && (this.applied.get(key) ?? 0) >= serial) continue;
      this.applied.set(key, serial);
      const map = this.maps[c.kind];
      const old = map.get(c.uuid) as { name?: string } | undefined;
      if (old?.name !== undefined) this.names[c.kind].delete(old.name);
      if (c.obj) {
        map.set(c.uuid, c.obj);
        const name = (c.obj as { name?: string }).name;
        if (name !== undefined) this.names[c.kind].set(name, c.uuid);
      } else {
        map.delete(c.uuid);
      }
      done.push(c);
    }
    if (serial > this.serial) this.serial = serial;
    if (done.length) for (const fn of this.listeners) fn(done);
  }

  /** Increases whenever a node reports a different set of instance states. */
  runtimeVersion = 0;
  private reportedInstances = new Map<string, string>();

  applyRuntime(rt: NodeRuntime & { seq?: number }): void {
    const cur = this.runtimes.get(rt.node);
    if (cur && cur.heartbeat > rt.heartbeat) return;
    this.runtimes.set(rt.node, rt);
    const states = JSON.stringify(rt.instances);
    if (this.reportedInstances.get(rt.node) !== states) {
      this.reportedInstances.set(rt.node, states);
      this.runtimeVersion++;
    }
  }

  /**
   * A key that changes whenever anything an instance's RAPI view depends on
   * may have: the config, the nodes' reports, and which nodes are alive.
   */
  viewKey(): string {
    let alive = '';
    for (const uuid of this.maps.node.keys()) alive += this.liveRuntime(uuid) ? '1' : '0';
    return `${this.serial}|${this.runtimeVersion}|${alive}`;
  }

  // --- Snapshot ---
  get cluster(): Cluster {
    const c = this.maps.cluster.values().next().value as Cluster | undefined;
    if (!c) throw new Error('cluster is not initialised');
    return c;
  }
  get hasCluster(): boolean {
    return this.maps.cluster.size > 0;
  }
  get nodes() { return this.maps.node as Map<string, KindMap['node']>; }
  get groups() { return this.maps.nodegroup as Map<string, KindMap['nodegroup']>; }
  get instances() { return this.maps.instance as Map<string, KindMap['instance']>; }
  get networks() { return this.maps.network as Map<string, KindMap['network']>; }

  /** Every object of a kind. */
  all<T extends Exclude<Kind, 'cluster'>>(kind: T): KindMap[T][] {
    return [...this.maps[kind].values()] as KindMap[T][];
  }

  byName<T extends Exclude<Kind, 'cluster'>>(kind: T, name: string): KindMap[T] | undefined {
    const uuid = this.names[kind].get(name);
    return uuid === undefined ? undefined : (this.maps[kind].get(uuid) as KindMap[T]);
  }

  liveRuntime(nodeUuid: string): NodeRuntime | undefined {
    const rt = this.runtimes.get(nodeUuid);
    if (!rt || Date.now() - rt.heartbeat > RUNTIME_TTL_MS) return undefined;
    return rt;
  }

  // --- writes ---
  /**
   * Write objects atomically. Each object must carry the serial_no it was read
   * with; the write bumps serial_no and mtime. A concurrent writer makes this
   * throw ConflictError and nothing is written.
   */
  async commit(writes: { kind: Kind; obj: AnyObj; isNew?: boolean }[], deletes: { kind: Kind; obj: AnyObj }[] = []): Promise<number> {
    const now = Date.now() / 1000;
    const args: (string | number)[] = [writes.length + deletes.length];
    const changes: Change[] = [];
    for (const w of writes) {
      const next = { ...w.obj, serial_no: w.isNew ? w.obj.serial_no : w.obj.serial_no + 1, mtime: w.isNew ? w.obj.mtime : now };
      args.push(fieldOf(w.kind, next.uuid), w.isNew ? -1 : w.obj.serial_no, JSON.stringify(next));
      changes.push({ kind: w.kind, uuid: next.uuid, obj: next as AnyObj });
    }
    for (const d of deletes) {
      args.push(fieldOf(d.kind, d.obj.uuid), d.obj.serial_no, '');
      changes.push({ kind: d.kind, uuid: d.obj.uuid, obj: null });
    }
    args.push(JSON.stringify(changes));
    // The new serial_no of each object, in the same order, for the serials hash.
    for (const c of changes) args.push(c.obj ? c.obj.serial_no : 0);
    const [serial, field] = (await COMMIT.run(this.redis, [K.config, K.configSerial, K.configChanged, K.configSerials], args)) as [number, string];
    if (serial < 0) throw new ConflictError(`configuration object ${field} changed concurrently`);
    // Read-your-writes: this process sees its change before anyone hears of it.
    this.apply(serial, changes);
    return serial;
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.sub?.quit().catch(() => undefined);
  }
}
