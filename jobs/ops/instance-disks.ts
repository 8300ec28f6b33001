// Instance disks (cmdlib/instance_storage.py): activate, deactivate,
// recreate, grow and replace; plus what the other instance areas share with
// them: node calls with Ganeti's failure texts, node and state checks, and
// file disk naming.
import { randomUUID } from 'node:crypto';
import { OpExecError, OpPrereqError, type Ecode } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Disk, Instance, Node } from '../../src/model.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import { NodeNoAnswerError, STEP } from '../node-rpc.ts';
import { IDISK_PARAMS_TYPES, forceDictType } from '../params.ts';
import { define, type OpContext } from './context.ts';
import { findInstance, findNode, primaryNode } from './lookup.ts';
import { instanceSpec, type InstanceSpec } from './instance-spec.ts';
import { BGL_SHARED } from './lock-requests.ts';
import { logInfo, logWarning } from './feedback.ts';
import { IALLOCATORS } from './node-actions.ts';
import { groupIPolicy, specViolations } from '../ipolicy.ts';
import { diskNodes, isDrbd, secondariesOf } from './drbd.ts';

// ---------------------------------------------------------------------------
// Node calls, the way Ganeti's RpcResult carries them.

export type RpcResult<T = unknown> = { ok: true; payload: T } | { ok: false; msg: string; offline: boolean; noAnswer?: boolean };

/** Why a node cannot take a step now, as its RPC would fail; null when it can. */
export function unreachable(cfg: ConfigStore, node: Node): { msg: string; offline: boolean } | null {
  if (node.offline) return { msg: 'Node is marked offline', offline: true };
  // A silent worker would leave the step queued until it times out.
  if (!cfg.liveRuntime(node.uuid)) return { msg: `Node ${node.name} is not responding (its node worker sends no heartbeat)`, offline: false };
  return null;
}

/** A node step whose failure is a value (Ganeti's fail_msg), not an exception. */
export async function rpc<T = unknown>(ctx: OpContext, node: Node, step: string, args: Record<string, unknown>, timeoutMs?: number): Promise<RpcResult<T>> {
  const down = unreachable(ctx.cfg, node);
  if (down) return { ok: false, ...down };
  try {
    return { ok: true, payload: (await ctx.node(node.name, step, args, timeoutMs)) as T };
  } catch (err) {
    return { ok: false, msg: (err as Error).message, offline: false, noAnswer: err instanceof NodeNoAnswerError };
  }
}

/** RpcResult.Raise: "<msg>: <failure>" as OpExecError, or OpPrereqError in prereq checks. */
export function raiseOn<T>(r: RpcResult<T>, msg: string, prereq?: { ecode?: Ecode }): T {
  if (r.ok) return r.payload;
  const text = `${msg}: ${r.msg}`;
  throw prereq ? new OpPrereqError(text, prereq.ecode) : new OpExecError(text);
}

// ---------------------------------------------------------------------------
// Checks (cmdlib/common.py, instance_utils.py).

export function checkNodeOnline(node: Node, msg = "Can't use offline node"): void {
  if (node.offline) throw new OpPrereqError(`${msg}: ${node.name}`, 'wrong_state');
}

export function checkNodeNotDrained(node: Node): void {
  if (node.drained) throw new OpPrereqError(`Can't use drained node ${node.name}`, 'wrong_state');
}

export function checkNodeVmCapable(node: Node): void {
  if (!node.vm_capable) throw new OpPrereqError(`Can't use non-vm_capable node ${node.uuid}`, 'wrong_state');
}

export const INSTANCE_DOWN: Instance['admin_state'][] = ['down'];
export const INSTANCE_NOT_RUNNING: Instance['admin_state'][] = ['down', 'offline'];

/** IsInstanceRunning: what the primary's hypervisor says (a user-shut-down guest is not running). */
async function instanceRunning(ctx: OpContext, inst: Instance): Promise<boolean> {
  const info = raiseOn(
    await rpc<{ state: string } | null>(ctx, primaryNode(ctx.cfg, inst), STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor }),
    `Can't retrieve instance information for instance '${inst.name}'`, { ecode: 'environment_error' },
  );
  return info !== null && info.state !== 'user_down';
}

/** CheckInstanceState, including its warning when the primary node is offline. */
export async function checkState(ctx: OpContext, inst: Instance, allowed: Instance['admin_state'][], msg: string): Promise<void> {
  if (!allowed.includes(inst.admin_state)) {
    throw new OpPrereqError(`Instance '${inst.name}' is marked to be ${inst.admin_state}, ${msg}`, 'wrong_state');
  }
  if (allowed.includes('up')) return;
  if (primaryNode(ctx.cfg, inst).offline) {
    await logWarning(ctx, 'Primary node offline, ignoring check that instance is down');
  } else if (await instanceRunning(ctx, inst)) {
    throw new OpPrereqError(`Instance ${inst.name} is running, ${msg}`, 'wrong_state');
  }
}

/**
 * Ganeti tracks whether an instance's disks are active; rapid's disks are
 * files, active whenever they exist, so this follows the admin state.
 */
export const disksActive = (inst: Instance): boolean => inst.admin_state === 'up';

/** Locks of an instance opcode: the instance, and its primary node plus `extra` nodes, exclusively as Ganeti's LUs take them. */
export function instanceOpLocks(op: Opcode, cfg: ConfigStore, extra: (string | null | undefined)[] = []): LockRequest[] {
  const locks: LockRequest[] = [BGL_SHARED, { level: 'instance', name: String(op.instance_name), shared: false }];
  const inst = cfg.byName('instance', String(op.instance_name));
  const names = new Set<string>();
  if (inst) for (const uuid of [inst.primary_node, ...inst.secondary_nodes]) { const n = cfg.nodes.get(uuid); if (n) names.add(n.name); }
  for (const n of extra) if (n && cfg.byName('node', n)) names.add(n);
  for (const name of names) locks.push({ level: 'node', name, shared: false });
  return locks;
}

// ---------------------------------------------------------------------------
// Disks.

export const FILE_TEMPLATES: readonly string[] = ['file', 'sharedfile'];
/** constants.DTS_GROWABLE, the ones rapid has. */
const GROWABLE = new Set(['file', 'sharedfile', 'drbd']);

/** utils.FormatUnit(value, "h"). */
export function formatUnit(mib: number): string {
  if (mib < 1024) return `${mib.toFixed(0)}M`;
  if (mib < 1024 * 1024) return `${(mib / 1024).toFixed(1)}G`;
  return `${(mib / 1024 / 1024).toFixed(1)}T`;
}

/** A file disk's path, relative to its template's storage root: "<instance>/<uuid>.file.disk<N>". */
export const fileDiskPath = (instance: string, uuid: string, index: number) => `${instance}/${uuid}.file.disk${index}`;

/** The directory holding an instance's file disks (CalculateFileStorageDir). */
export function fileStorageDir(inst: Pick<Instance, 'disks'>): string | null {
  const id = inst.disks[0]?.logical_id;
  return Array.isArray(id) ? String(id[1]).split('/').slice(0, -1).join('/') : null;
}

/** GenerateDiskTemplate for one disk of a file-based or diskless instance. */
export function newDisk(instance: string, template: string, index: number, p: { size: number; mode?: string; name?: string | null; spindles?: number | null }, driver = 'loop'): Disk {
  const uuid = randomUUID();
  return {
    uuid, name: p.name ?? null, size: p.size, mode: (p.mode as Disk['mode'] | undefined) ?? 'rw', spindles: p.spindles ?? null,
    dev_type: template, params: {}, logical_id: [driver, fileDiskPath(instance, uuid, index)],
  };
}

/** The spec a node step needs, for only some of the instance's disks. */
export function specWith(cfg: ConfigStore, inst: Instance, disks: Disk[], template = inst.disk_template): InstanceSpec {
  return instanceSpec(cfg, { ...inst, disks, disk_template: template });
}

/** instance.FindDisk: the disk at an index, with Ganeti's (sic) error text. */
function findDisk(inst: Instance, idx: number): Disk {
  const d = inst.disks[idx];
  if (!d) throw new OpPrereqError(`Invalid disk index: ${idx} (instace has disks 0 to ${inst.disks.length - 1}`, 'wrong_input');
  return d;
}

export const ivName = (idx: number) => `disk/${idx}`;

/** The nodes other than the primary holding some of `disks` (drbd pairs). */
function secondaryNodes(cfg: ConfigStore, inst: Instance, disks: Disk[]): Node[] {
  return secondariesOf(inst, disks).map((u) => cfg.nodes.get(u)).filter((n): n is Node => !!n);
}

/**
 * AssembleInstanceDisks: [ok, [[node, iv_name, path]]]. drbd disks come up
 * on their secondaries first (pass 1), then everything on the primary
 * (pass 2), with Ganeti's warning for each disk that cannot be prepared;
 * `force` makes the primary's copy authoritative (new disks, failover of a
 * dead primary).
 */
export async function assembleDisks(ctx: OpContext, inst: Instance, indexes?: number[], o: { ignoreSecondaries?: boolean; force?: boolean } = {}): Promise<[boolean, [string, string, string | null][]]> {
  const node = primaryNode(ctx.cfg, inst);
  const idx = indexes ?? inst.disks.map((_, i) => i);
  if (!idx.length) return [true, []];
  const disks = idx.map((i) => inst.disks[i]);
  let ok = true;
  for (const sec of secondaryNodes(ctx.cfg, inst, disks)) {
    const mine = idx.filter((i) => diskNodes(inst, inst.disks[i]).includes(sec.uuid));
    const r = await rpc<[boolean, string][]>(ctx, sec, STEP.disksAssemble, { spec: specWith(ctx.cfg, inst, mine.map((i) => inst.disks[i])) });
    for (const [k, i] of mine.entries()) {
      const [done, text] = r.ok ? r.payload[k] : [false, r.msg];
      if (done) continue;
      await logWarning(ctx, `Could not prepare block device ${ivName(i)} on node ${sec.name} (is_primary=False, pass=1): ${text}`);
      if (!o.ignoreSecondaries) ok = false;
    }
  }
  const r = await rpc<[boolean, string][]>(ctx, node, STEP.disksAssemble, { spec: specWith(ctx.cfg, inst, disks), force: o.force === true });
  const info: [string, string, string | null][] = [];
  for (const [k, i] of idx.entries()) {
    const [done, text] = r.ok ? r.payload[k] : [false, r.msg];
    if (!done) {
      ok = false;
      await logWarning(ctx, `Could not prepare block device ${ivName(i)} on node ${node.name} (is_primary=True, pass=2): ${text}`);
    }
    info.push([node.name, ivName(i), done ? text : null]);
  }
  return [ok, info];
}

/**
 * ShutdownInstanceDisks on every node holding them; a failure on the
 * primary counts unless `ignorePrimary` (a failover from a dead node).
 */
export async function shutdownDisks(ctx: OpContext, inst: Instance, o: { ignorePrimary?: boolean } = {}): Promise<boolean> {
  if (!inst.disks.some(isDrbd)) return true;
  let ok = true;
  for (const node of [primaryNode(ctx.cfg, inst), ...secondaryNodes(ctx.cfg, inst, inst.disks)]) {
    const r = await rpc(ctx, node, STEP.disksShutdown, { spec: instanceSpec(ctx.cfg, inst) });
    if (r.ok) continue;
    await logWarning(ctx, `Could not shutdown block device disk on node ${node.name}: ${r.msg}`);
    if (!(node.uuid === inst.primary_node && o.ignorePrimary) && !r.offline) ok = false;
  }
  return ok;
}

/** Ganeti's objects.BlockDevStatus as the nodes report it (drbd disks), null for the rest. */
export interface MirrorStatus { sync_percent: number | null; estimated_time: number | null; is_degraded: boolean; ldisk_status: number; dev_path: string; major: number; minor: number }

/** Status queries wait this long: a worker that just died has not missed its heartbeat yet, and its queue would hold them for minutes. */
export const STATUS_TIMEOUT_MS = 5_000;

/** blockdev_getmirrorstatus of some of an instance's disks on one node: a status per disk, null where it is not assembled. */
export function mirrorStatus(ctx: OpContext, inst: Instance, node: Node, disks: Disk[] = inst.disks, timeoutMs?: number): Promise<RpcResult<(MirrorStatus | null)[]>> {
  return rpc<(MirrorStatus | null)[]>(ctx, node, STEP.disksMirrorStatus, { spec: specWith(ctx.cfg, inst, disks) }, timeoutMs);
}

/** utils.FormatSeconds. */
function formatSeconds(secs: number): string {
  const parts: string[] = [];
  let s = Math.round(secs);
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= n || parts.length) { parts.push(`${Math.floor(s / n)}${unit}`); s %= n; }
  }
  parts.push(`${s}s`);
  return parts.join(' ');
}

/** WaitForSync: polls the primary until no drbd disk resyncs; false when some stay degraded. */
export async function waitForSync(ctx: OpContext, inst: Instance, oneshot = false): Promise<boolean> {
  const disks = inst.disks.filter(isDrbd);
  if (!inst.disks.length) return true;
  if (!oneshot) await logInfo(ctx, `Waiting for instance ${inst.name} to sync disks`);
  const node = primaryNode(ctx.cfg, inst);
  let retries = 0;
  let degradedRetries = 10;
  for (;;) {
    let done = true;
    let degraded = false;
    let wait = 0;
    const r = disks.length ? await mirrorStatus(ctx, inst, node, disks) : { ok: true as const, payload: [] };
    if (!r.ok) {
      await logWarning(ctx, `Can't get any data from node ${node.name}: ${r.msg}`);
      if (++retries >= 10) throw new OpExecError(`Can't contact node ${node.name} for mirror data, aborting.`);
      await sleep(6_000);
      continue;
    }
    retries = 0;
    for (const [k, m] of r.payload.entries()) {
      const name = ivName(inst.disks.indexOf(disks[k]));
      if (!m) { await logWarning(ctx, `Can't compute data for node ${node.name}/${name}`); continue; }
      degraded ||= m.is_degraded && m.sync_percent === null;
      if (m.sync_percent === null) continue;
      done = false;
      wait = m.estimated_time ?? 5;
      await logInfo(ctx, `- device ${name}: ${m.sync_percent.toFixed(2).padStart(5)}% done, ${m.estimated_time !== null ? `${formatSeconds(m.estimated_time)} remaining (estimated)` : 'no time estimate'}`);
    }
    if ((done || oneshot) && degraded && degradedRetries-- > 0) { await sleep(1_000); continue; }
    if (done || oneshot) {
      if (done) await logInfo(ctx, `Instance ${inst.name}'s disks are in sync`);
      return !degraded;
    }
    // Ganeti sleeps up to a minute; replicas here sync in seconds.
    await sleep(Math.min(1_000, wait * 1000));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CreateDisks: on the secondaries first, then the primary (`node`); all or none. */
export async function createDisks(ctx: OpContext, inst: Instance, node: Node, disks: Disk[], template = inst.disk_template): Promise<void> {
  if (!disks.length) return;
  const done: Node[] = [];
  for (const n of [...secondaryNodes(ctx.cfg, inst, disks), node]) {
    const r = await rpc(ctx, n, STEP.disksCreate, { spec: specWith(ctx.cfg, inst, disks, template) });
    if (!r.ok) {
      for (const m of done) await rpc(ctx, m, STEP.disksRemove, { spec: specWith(ctx.cfg, inst, disks, template) });
      throw new OpExecError(`Can't create block device ${ivName(inst.disks.indexOf(disks[0]))} on node ${n.name} for instance ${inst.name}: ${r.msg}`);
    }
    done.push(n);
  }
}

/** RemoveDisks on every node holding them; failures are warnings, as Ganeti logs them. */
export async function removeDisks(ctx: OpContext, inst: Instance, node: Node, disks: Disk[], template = inst.disk_template): Promise<boolean> {
  if (!disks.length) return true;
  let ok = true;
  for (const n of [node, ...secondaryNodes(ctx.cfg, inst, disks)]) {
    const r = await rpc(ctx, n, STEP.disksRemove, { spec: specWith(ctx.cfg, inst, disks, template) });
    if (!r.ok) await logWarning(ctx, `Could not remove disk(s) of instance ${inst.name} on node ${n.name}: ${r.msg}`);
    ok &&= r.ok;
  }
  return ok;
}

// ---------------------------------------------------------------------------

export const OP_INSTANCE_ACTIVATE_DISKS = define<Instance>({
  locks: (op, cfg) => instanceOpLocks(op, cfg),
  prereq(op, ctx) {
    const inst = findInstance(ctx.cfg, op.instance_name);
    checkNodeOnline(primaryNode(ctx.cfg, inst));
    return inst;
  },
  async exec(inst, op, ctx) {
    const [ok, info] = await assembleDisks(ctx, inst);
    if (!ok) throw new OpExecError('Cannot activate block devices');
    if (op.wait_for_sync) await waitForSync(ctx, inst);
    return info;
  },
});

export const OP_INSTANCE_DEACTIVATE_DISKS = define<Instance>({
  locks: (op, cfg) => instanceOpLocks(op, cfg),
  prereq: (op, ctx) => findInstance(ctx.cfg, op.instance_name),
  async exec(inst, op, ctx) {
    // _SafeShutdownInstanceDisks checks in Exec, so a dry run does not.
    if (!op.force) await checkState(ctx, inst, INSTANCE_DOWN, 'cannot shutdown disks');
    // Shutting down a file disk is a no-op on the node (FileStorage.Shutdown).
    if (!(await shutdownDisks(ctx, inst))) throw new OpExecError("Can't shut down the instance's disks");
    return null;
  },
});

interface RecreatePlan { inst: Instance; node: Node; changes: Map<number, Record<string, unknown>>; newPrimary: boolean }

const RECREATE_MODIFIABLE = new Set(['size', 'mode', 'spindles']);

export const OP_INSTANCE_RECREATE_DISKS = define<RecreatePlan>({
  locks: (op, cfg) => instanceOpLocks(op, cfg, (op.nodes as string[]) ?? []),
  async prereq(op, ctx) {
    const { cfg } = ctx;
    // CheckArguments: old-style index lists become [index, {}] pairs.
    let mods = op.disks as unknown[];
    if (mods.length && typeof mods[0] === 'number') mods = [...new Set(mods as number[])].sort((a, b) => a - b).map((i) => [i, {}]);
    const pairs = mods as [number, Record<string, unknown>][];
    const dups = [...new Set(pairs.map(([i]) => i).filter((i, k, all) => all.indexOf(i) !== k))];
    if (dups.length) throw new OpPrereqError(`Some disks have been specified more than once: ${dups.join(', ')}`, 'wrong_input');
    const nodeNames = op.nodes as string[];
    if (op.iallocator && nodeNames.length) throw new OpPrereqError('Do not specify both, iallocator and node', 'wrong_input');
    const changes = new Map<number, Record<string, unknown>>();
    for (const [i, params] of pairs) {
      const p = forceDictType(params, IDISK_PARAMS_TYPES);
      const unsupported = Object.keys(p).filter((k) => !RECREATE_MODIFIABLE.has(k));
      if (unsupported.length) {
        throw new OpPrereqError(`Parameters for disk ${i} try to change unmodifyable parameter(s): ${unsupported.join(', ')}`, 'wrong_input');
      }
      changes.set(i, p);
    }
    const nodes = nodeNames.map((n) => findNode(cfg, n));

    const inst = findInstance(cfg, op.instance_name);
    const oldPrimary = primaryNode(cfg, inst);
    if (nodes.length && nodes.length !== 1 + inst.secondary_nodes.length) {
      throw new OpPrereqError(`Instance ${inst.name} currently has ${1 + inst.secondary_nodes.length} nodes, but ${nodes.length} replacement nodes were specified`, 'wrong_input');
    }
    let node = nodes[0] ?? oldPrimary;
    if (!op.iallocator) checkNodeOnline(node);
    if (!inst.disks.length) throw new OpPrereqError(`Instance '${inst.name}' has no disks`, 'wrong_input');
    if (!((op.iallocator || nodes.length) && oldPrimary.offline)) await checkState(ctx, inst, INSTANCE_NOT_RUNNING, 'cannot recreate disks');
    if (!changes.size) inst.disks.forEach((_, i) => changes.set(i, {}));
    const maxIdx = Math.max(...changes.keys());
    if (maxIdx >= inst.disks.length) throw new OpPrereqError(`Invalid disk index '${maxIdx}'`, 'wrong_input');
    if ((nodes.length || op.iallocator) && changes.size !== inst.disks.length) {
      throw new OpPrereqError("Can't recreate disks partially and change the nodes at the same time", 'wrong_input');
    }
    if (op.iallocator) {
      node = pickNode(cfg, String(op.iallocator), [], Number(instanceSpec(cfg, inst).beparams.maxmem), `Can't compute nodes using iallocator '${op.iallocator}'`);
      await logInfo(ctx, `Selected nodes for instance ${inst.name} via iallocator ${op.iallocator}: ${node.name}`);
    }
    return { inst, node, changes, newPrimary: node.uuid !== inst.primary_node };
  },
  async exec({ inst, node, changes, newPrimary }, _op, ctx) {
    const disks = inst.disks.map((d, i) => {
      const c = changes.get(i);
      return c ? { ...d, size: (c.size as number | undefined) ?? d.size, mode: (c.mode as Disk['mode'] | undefined) ?? d.mode, spindles: (c.spindles as number | undefined) ?? d.spindles } : d;
    });
    if (newPrimary) await logWarning(ctx, "Changing the instance's nodes, you will have to remove any disks left on the older nodes manually");
    const updated: Instance = { ...inst, disks, primary_node: node.uuid };
    // The files first, the configuration once they exist: a failure changes nothing.
    await createDisks(ctx, updated, node, disks.filter((_, i) => changes.has(i)));
    await ctx.cfg.commit([{ kind: 'instance', obj: updated }]);
    return null;
  },
});

interface GrowPlan { inst: Instance; disk: Disk; index: number; delta: number; target: number }

export const OP_INSTANCE_GROW_DISK = define<GrowPlan>({
  locks: (op, cfg) => instanceOpLocks(op, cfg),
  prereq(op, ctx) {
    const inst = findInstance(ctx.cfg, op.instance_name);
    checkNodeOnline(primaryNode(ctx.cfg, inst));
    const index = Number(op.disk);
    const disk = findDisk(inst, index);
    if (!GROWABLE.has(disk.dev_type)) throw new OpPrereqError(`Instance's disk layout ${disk.dev_type} does not support growing`, 'wrong_input');
    const amount = Number(op.amount);
    if (op.absolute && amount < disk.size) {
      throw new OpPrereqError(`Requested size (${formatUnit(amount)}) is smaller than current disk size (${formatUnit(disk.size)})`, 'wrong_state');
    }
    const target = op.absolute ? amount : disk.size + amount;
    // ComputeIPolicyDiskSizesViolation: only the disks are checked against the group's policy.
    const sizes = inst.disks.map((d) => (d.uuid === disk.uuid ? target : d.size));
    const violations = specViolations(groupIPolicy(ctx.cfg, primaryNode(ctx.cfg, inst).group),
      { 'disk-count': sizes.length, 'disk-size': sizes }, inst.disks.map((d) => d.dev_type));
    if (violations.length) {
      const msg = `Growing disk ${op.disk} violates policy: ${violations.join(', ')}`;
      if (!op.ignore_ipolicy) throw new OpPrereqError(msg, 'wrong_input');
      void logWarning(ctx, msg);
    }
    return { inst, disk, index, delta: target - disk.size, target };
  },
  async exec({ inst, disk, index, delta, target }, op, ctx) {
    const node = primaryNode(ctx.cfg, inst);
    const [ok] = await assembleDisks(ctx, inst, [index]);
    if (!ok) throw new OpExecError('Cannot activate block device to grow');
    await ctx.log(`Growing disk ${index} of instance '${inst.name}' by ${formatUnit(delta)} to ${formatUnit(target)}`);
    const args = { logical_id: disk.logical_id, template: disk.dev_type, amount: delta, instance: inst.name, hypervisor: inst.hypervisor };
    if (isDrbd(disk)) {
      // Ganeti's passes: the backing store on every node (dry run first), then the device on the primary.
      const drbd = specWith(ctx.cfg, inst, [disk]).disks[0];
      const holders = diskNodes(inst, disk).map((u) => ctx.cfg.nodes.get(u)!);
      for (const dryrun of [true, false]) {
        for (const n of holders) {
          raiseOn(await rpc(ctx, n, STEP.disksGrow, { ...args, drbd, backing_store: true, dryrun }), `${dryrun ? 'Dry-run grow' : 'Grow'} request failed to node ${n.name}`);
        }
      }
      raiseOn(await rpc(ctx, node, STEP.disksGrow, { ...args, drbd, backing_store: false, dryrun: false }), `Grow request failed to node ${node.name}`);
    } else {
      raiseOn(await rpc(ctx, node, STEP.disksGrow, { ...args, dryrun: true }), `Dry-run grow request failed to node ${node.name}`);
      raiseOn(await rpc(ctx, node, STEP.disksGrow, { ...args, dryrun: false }), `Grow request failed to node ${node.name}`);
    }
    const cur = ctx.cfg.instances.get(inst.uuid) ?? inst;
    await ctx.cfg.commit([{ kind: 'instance', obj: { ...cur, disks: cur.disks.map((d) => (d.uuid === disk.uuid ? { ...d, size: d.size + delta } : d)) } }]);
    if (op.wait_for_sync) await waitForSync(ctx, inst);
    else if (!disksActive(inst)) {
      await logWarning(ctx, 'Not shutting down the disk even if the instance is not supposed to be running because no wait for sync mode was requested');
    }
    return null;
  },
});

// ---------------------------------------------------------------------------
// Node choice (the `hail` iallocator in its simplest honest form).

/**
 * The online, undrained, vm-capable node with most free memory that can take
 * `needMem` MiB, skipping `exclude`; `taken` counts memory already promised
 * per node uuid (multi-instance requests).
 */
export function pickNode(cfg: ConfigStore, allocator: string, exclude: string[], needMem: number, errorPrefix: string, taken = new Map<string, number>()): Node {
  if (!IALLOCATORS.includes(allocator)) {
    throw new OpExecError(`Failure while running the iallocator script: iallocator module '${allocator}' not found in the search path`);
  }
  let best: { node: Node; free: number } | undefined;
  let candidates = 0;
  for (const node of cfg.nodes.values()) {
    if (exclude.includes(node.uuid) || node.offline || node.drained || !node.vm_capable) continue;
    const rt = cfg.liveRuntime(node.uuid);
    if (!rt) continue;
    candidates++;
    const free = rt.mfree - (taken.get(node.uuid) ?? 0);
    if (free >= needMem && (!best || free > best.free)) best = { node, free };
  }
  if (!best) {
    const why = candidates ? `FailMem: ${candidates}` : 'no usable node';
    throw new OpPrereqError(`${errorPrefix}: Request failed: No valid allocation solutions, failure reasons: ${why}`, 'insufficient_resources');
  }
  return best.node;
}
