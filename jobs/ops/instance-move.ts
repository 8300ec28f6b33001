// Moving a running instance between nodes (cmdlib/instance_migration.py,
// TLMigrateInstance): live migration through the hypervisor, failover by
// stopping it on one node and starting it on the other, and cleanup after a
// migration that was interrupted. Only disk layouts every node can reach
// (diskless, sharedfile) can move.
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Instance, Node } from '../../src/model.ts';
import { filledBeParams, filledHvParams } from '../../src/fill.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import { STEP } from '../node-rpc.ts';
import { define, type OpContext } from './context.ts';
import { findInstance, findNode, primaryNode } from './lookup.ts';
import { instanceSpec } from './instance-spec.ts';
import { checkFreeMemory } from './instance.ts';
import { BGL_SHARED } from './lock-requests.ts';
import {
  assembleDisks, checkNodeNotDrained, checkNodeOnline, checkNodeVmCapable, disksActive, instanceOpLocks,
  ivName, pickNode, raiseOn, rpc, mirrorStatus, shutdownDisks, specWith, unreachable, waitForSync, type RpcResult,
} from './instance-disks.ts';
import { logInfo, logWarning } from './feedback.ts';
import { isDrbd, secondariesOf } from './drbd.ts';
import type { MigrationStatus } from '../../hypervisor/driver.ts';

/** constants.DTS_MIRRORED, restricted to rapid's templates; drbd is the internally mirrored one (DTS_INT_MIRROR). */
const MIRRORED = new Set(['diskless', 'sharedfile', 'drbd']);
const MIGRATION_ACTIVE = new Set(['active', 'setup', 'postcopy-active']);
const MIGRATION_FAILED = new Set(['failed', 'cancelled']);
/** Ganeti polls a migration once a second; rapid starts at 50 ms and backs off to that (a small guest is done in ~100 ms). */
const POLL_FIRST_MS = 50;
const POLL_MS = 1_000;
const FEEDBACK_MS = 10_000;

interface Plan {
  inst: Instance;
  source: Node;
  target: Node;
  failover: boolean;
  cleanup: boolean;
  live: boolean;
  /** Memory the guest has now (migration only). */
  currentMem: number;
  /** Free memory on the target when checked. */
  targetFree: number;
}

interface Mode {
  failover: boolean;
  /** allow_failover: fall back to failover when migration is impossible. */
  fallback: boolean;
  ignoreConsistency: boolean;
  allowRuntimeChanges: boolean;
  shutdownTimeout: number;
}

/** Locks: the instance, its node and the target; every node when an allocator chooses. */
function migrationLocks(op: Opcode, cfg: ConfigStore): LockRequest[] {
  if (op.target_node) return instanceOpLocks(op, cfg, [op.target_node as string]);
  return [
    BGL_SHARED, { level: 'instance', name: String(op.instance_name), shared: false },
    ...[...cfg.nodes.values()].map((n): LockRequest => ({ level: 'node', name: n.name, shared: false })),
  ];
}

/** utils.AllDiskOfType: an instance without disks counts as diskless. */
const allDisksIn = (inst: Instance, types: Set<string>) => (inst.disks.length ? inst.disks.every((d) => types.has(d.dev_type)) : types.has('diskless'));

/** TLMigrateInstance.CheckPrereq. */
async function prereq(op: Opcode, ctx: OpContext, mode: Mode): Promise<Plan> {
  const { cfg } = ctx;
  const cleanup = op.cleanup === true;
  const named = op.target_node ? findNode(cfg, op.target_node) : undefined;
  const inst = findInstance(cfg, op.instance_name);
  const source = primaryNode(cfg, inst);
  let failover = mode.failover;
  if (!cleanup && inst.admin_state !== 'up' && !failover && mode.fallback) {
    await logInfo(ctx, 'Instance is marked down or offline, fallback allowed, switching to failover');
    failover = true;
  }
  if (!allDisksIn(inst, MIRRORED)) {
    const bad = [...new Set(inst.disks.map((d) => d.dev_type).filter((t) => !MIRRORED.has(t)))];
    throw new OpPrereqError(`Instance's disk layout '${bad.join(', ')}' does not allow ${failover ? 'failovers' : 'migrations'}`, 'wrong_state');
  }

  // CheckIAllocatorOrNode: a target node, or an allocator (the cluster's by default).
  if (named && op.iallocator) throw new OpPrereqError('Do not specify both, iallocator and node', 'wrong_input');
  let target = named;
  const be = filledBeParams(cfg.cluster, inst);
  if (inst.disks.length && inst.disks.every(isDrbd)) {
    // DTS_INT_MIRROR: the instance can only go where its disks' other copy is.
    const secondary = inst.secondary_nodes[0] && cfg.nodes.get(inst.secondary_nodes[0]);
    if (!secondary) throw new OpExecError('No secondary node but using drbd disk types');
    if (op.iallocator || (named && named.uuid !== secondary.uuid)) {
      throw new OpPrereqError(`Instances with disk types drbd cannot be ${failover ? 'failed over' : 'migrated'} to arbitrary nodes (neither an iallocator nor a target node can be passed)`, 'wrong_input');
    }
    target = secondary;
  } else if (!target) {
    const allocator = (op.iallocator as string | null) ?? cfg.cluster.default_iallocator;
    if (!allocator) {
      throw new OpPrereqError('No iallocator or node given and no cluster-wide default iallocator found; please specify either an iallocator or a node, or set a cluster-wide default iallocator', 'wrong_input');
    }
    target = pickNode(cfg, allocator, [inst.primary_node], inst.admin_state === 'up' ? Number(be.maxmem) : 0, `Can't compute nodes using iallocator '${allocator}'`);
    await logInfo(ctx, `Selected nodes for instance ${inst.name} via iallocator ${allocator}: ${target.name}`);
  }
  if (target.uuid === inst.primary_node) {
    throw new OpPrereqError(`Cannot migrate instance ${inst.name} to its primary (${source.name})`, 'wrong_state');
  }
  checkNodeOnline(target);
  checkNodeVmCapable(target);

  let targetFree = 0;
  if (!cleanup && (!failover || inst.admin_state === 'up')) {
    checkFreeMemory(cfg, target, `migrating instance ${inst.name}`, Number(be.minmem));
    targetFree = cfg.liveRuntime(target.uuid)!.mfree;
  } else {
    await logInfo(ctx, 'Not checking memory on the secondary node as instance will not be started');
  }
  if (!cleanup && !failover && be.always_failover) {
    await logInfo(ctx, 'Instance configured to always failover; fallback to failover');
    failover = true;
  }

  if (!cleanup) {
    checkNodeNotDrained(target);
    if (!failover) {
      const r = await rpc<{ state: string } | null>(ctx, source, STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor });
      // backend.GetInstanceMigratable: the guest must run on its primary.
      const migratable: RpcResult = r.ok && !r.payload ? { ok: false, msg: `Instance ${inst.name} is not running`, offline: false } : r;
      if (!migratable.ok && mode.fallback) {
        await logInfo(ctx, "Can't migrate, instance offline, fallback to failover");
        failover = true;
      } else {
        raiseOn(migratable, "Can't migrate, please use failover", { ecode: 'wrong_state' });
      }
    }
  }

  let live = false;
  if (!failover) {
    if (op.live !== null && op.live !== undefined && op.mode !== null && op.mode !== undefined) {
      throw new OpPrereqError("Only one of the 'live' and 'mode' parameters are accepted", 'wrong_input');
    }
    const how = op.live !== null && op.live !== undefined ? (op.live ? 'live' : 'non-live')
      : ((op.mode as string | null) ?? String(filledHvParams(cfg.cluster, inst).migration_mode));
    live = how === 'live';
  }

  let currentMem = 0;
  if (!failover && !cleanup) {
    const info = raiseOn(
      await rpc<{ memory: number } | null>(ctx, source, STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor }),
      `Error checking instance on node ${source.name}`, {},
    );
    if (info) currentMem = Number(info.memory);
  }
  return { inst, source, target, failover, cleanup, live, currentMem, targetFree };
}

// ---------------------------------------------------------------------------

/** Ganeti logs each node-side disk step; file disks need no work to open or close. */
const closeDisks = (ctx: OpContext, node: Node) => ctx.log(`* closing instance disks on node ${node.name}`);

/** _OpenInstanceDisks: on the node that will run the guest, its disks must be reachable. */
async function openDisks(ctx: OpContext, inst: Instance, node: Node, exclusive: boolean): Promise<void> {
  await ctx.log(`* opening instance disks on node ${node.name} in ${exclusive ? 'exclusive' : 'shared'} mode`);
  if (!inst.disks.length) return;
  const r = await rpc<[boolean, string][]>(ctx, node, STEP.disksAssemble, { spec: specWith(ctx.cfg, inst, inst.disks) });
  const failed = r.ok ? r.payload.find(([ok]) => !ok) : undefined;
  if (!r.ok || failed) throw new OpExecError(`Cannot open instance disks on node ${node.name}: ${r.ok ? failed![1] : r.msg}`);
}

/** SetInstancePrimaryNode; a drbd instance's old primary becomes its secondary. */
async function setPrimary(ctx: OpContext, inst: Instance, node: Node): Promise<Instance> {
  const cur = ctx.cfg.instances.get(inst.uuid) ?? inst;
  const moved = { ...cur, primary_node: node.uuid };
  await ctx.cfg.commit([{ kind: 'instance', obj: { ...moved, secondary_nodes: secondariesOf(moved, moved.disks) } }]);
  return ctx.cfg.instances.get(inst.uuid)!;
}

const internallyMirrored = (inst: Instance) => inst.disks.length > 0 && inst.disks.every(isDrbd);

/** A drbd step on one node, failing the job with Ganeti's wording. */
async function drbdStep(ctx: OpContext, inst: Instance, node: Node, step: string, args: Record<string, unknown> = {}): Promise<void> {
  raiseOn(await rpc(ctx, node, step, { spec: instanceSpec(ctx.cfg, inst), ...args }), `Cannot change disk to secondary on node ${node.name}`);
}

/** _AbortMigration: both sides roll back; failures are only logged, the disks still need reverting. */
async function abortMigration(ctx: OpContext, p: Plan, info: unknown): Promise<[RpcResult, RpcResult]> {
  const spec = instanceSpec(ctx.cfg, p.inst);
  const dst = await rpc(ctx, p.target, STEP.migrationFinalizeDst, { spec, info, success: false });
  if (!dst.ok) console.error(`rapid: aborting migration failed on target node ${p.target.name}: ${dst.msg}`);
  const src = await rpc(ctx, p.source, STEP.migrationFinalizeSrc, { spec, success: false, live: p.live });
  if (!src.ok) console.error(`rapid: aborting migration failed on source node ${p.source.name}: ${src.msg}`);
  return [dst, src];
}

/** _RevertDiskStatus for externally mirrored disks. */
async function revertDisks(ctx: OpContext, p: Plan): Promise<void> {
  await closeDisks(ctx, p.target);
  await openDisks(ctx, p.inst, p.source, true);
}

/** TLMigrateInstance._ExecMigration. */
async function execMigration(ctx: OpContext, p: Plan, allowRuntimeChanges: boolean): Promise<void> {
  const { inst, source, target } = p;
  const spec = instanceSpec(ctx.cfg, inst);
  await ctx.log('* checking disk consistency between source and target');
  if (p.currentMem > p.targetFree) {
    if (!allowRuntimeChanges) {
      throw new OpExecError(`Memory ballooning not allowed and not enough free memory to fit instance ${inst.name} on target node ${target.name} (have ${p.targetFree}MB, need ${p.currentMem}MB)`);
    }
    await ctx.log(`* setting instance memory to ${p.targetFree}`);
    raiseOn(await rpc(ctx, source, STEP.instanceBalloon, { spec, memory: p.targetFree }), 'Cannot modify instance runtime memory');
  }
  const infoResult = await rpc(ctx, source, STEP.migrationInfo, { spec });
  if (!infoResult.ok) throw new OpExecError(`Failed fetching source migration information from ${source.name}: ${infoResult.msg}`);
  const info = infoResult.payload;

  const drbd = internallyMirrored(inst);
  if (drbd) {
    // _EnsureSecondary + _GoReconnect(multimaster): the target opens its copy while the source still mirrors into it.
    if (!(await waitForSync(ctx, inst, true))) throw new OpExecError(`Disks of instance ${inst.name} are degraded, cannot migrate`);
    await ctx.log('* changing disks into dual-master mode');
    await drbdStep(ctx, inst, target, STEP.disksOpen, { multimaster: true });
  } else {
    await closeDisks(ctx, target);
    await openDisks(ctx, inst, source, false);
    await openDisks(ctx, inst, target, false);
  }

  const fail = async (what: string, msg: string, log: string): Promise<never> => {
    await ctx.log(log);
    await abortMigration(ctx, p, info);
    if (drbd) {
      await ctx.log('* changing disks into single-master mode');
      const r = await rpc(ctx, target, STEP.disksClose, { spec });
      if (!r.ok) await logWarning(ctx, `Could not close instance disks on node ${target.name}: ${r.msg}`);
    } else {
      await revertDisks(ctx, p);
    }
    throw new OpExecError(`Could not ${what} instance ${inst.name}: ${msg}`);
  };
  await ctx.log(`* preparing ${target.name} to accept the instance`);
  const accepted = await rpc(ctx, target, STEP.migrationAccept, { spec, info, target: target.secondary_ip });
  if (!accepted.ok) return fail('pre-migrate', accepted.msg, 'Pre-migration failed, aborting');

  await ctx.log(`* migrating instance to ${target.name}`);
  const started = await rpc(ctx, source, STEP.migrationStart, { spec, target: target.secondary_ip, live: p.live });
  if (!started.ok) return fail('migrate', started.msg, 'Migration failed, aborting');

  await ctx.log('* starting memory transfer');
  let lastFeedback = Date.now();
  let poll = POLL_FIRST_MS;
  for (;;) {
    const st = await rpc<MigrationStatus>(ctx, source, STEP.migrationStatus, { spec });
    if (!st.ok) return fail('migrate', st.msg, 'Migration failed, aborting');
    const status = st.payload;
    if (MIGRATION_FAILED.has(status.status)) return fail('migrate', 'hypervisor returned failure', 'Migration failed, aborting');
    if (status.status === 'postcopy-active') await ctx.log('* memory transfer has switched to postcopy');
    if (!MIGRATION_ACTIVE.has(status.status)) {
      await ctx.log('* memory transfer complete');
      break;
    }
    if (Date.now() - lastFeedback > FEEDBACK_MS && status.transferred_ram !== undefined && status.total_ram) {
      await ctx.log(`* memory transfer progress: ${((100 * status.transferred_ram) / status.total_ram).toFixed(2)} %`);
      lastFeedback = Date.now();
    }
    await new Promise((r) => setTimeout(r, poll));
    poll = Math.min(POLL_MS, poll * 2);
  }

  // Both sides finish together; the configuration moves only once both did.
  const src = await rpc(ctx, source, STEP.migrationFinalizeSrc, { spec, success: true, live: p.live });
  const dst = await rpc(ctx, target, STEP.migrationFinalizeDst, { spec, info, success: true });
  const errs = [[source, src], [target, dst]].filter(([, r]) => !(r as RpcResult).ok)
    .map(([n, r]) => `${(n as Node).name}: ${(r as { msg: string }).msg}`);
  if (errs.length) throw new OpExecError(`Could not finalize instance migration: ${errs.join(' ')}`);

  const moved = await setPrimary(ctx, inst, target);
  if (drbd) {
    // The old primary stops replicating; the new one takes over, towards it.
    await ctx.log(`* switching node ${source.name} to secondary mode`);
    await drbdStep(ctx, moved, source, STEP.disksClose);
    await ctx.log('* changing disks into single-master mode');
    const [ok] = await assembleDisks(ctx, moved);
    if (!ok) throw new OpExecError("Can't activate the instance's disks");
    await ctx.log('* wait until resync is done');
    await waitForSync(ctx, moved);
  } else {
    await closeDisks(ctx, source);
    await openDisks(ctx, moved, target, true);
  }
  await ctx.log('* done');
}

/** TLMigrateInstance._ExecCleanup: find where the guest really runs and make the config say so. */
async function execCleanup(ctx: OpContext, p: Plan): Promise<void> {
  const locate = async (): Promise<string[]> => {
    await ctx.log('* checking where the instance actually runs (if this hangs, the hypervisor might be in a bad state)');
    const where: string[] = [];
    for (const node of ctx.cfg.nodes.values()) {
      if (node.offline) continue;
      const r = raiseOn(await rpc<unknown>(ctx, node, STEP.instanceInfo, { name: p.inst.name, hypervisor: p.inst.hypervisor }), `Can't contact node ${node.name}`);
      if (r) where.push(node.uuid);
    }
    await ctx.log(`* instance running on: ${where.map((u) => ctx.cfg.nodes.get(u)?.name).join(',')}`);
    return where;
  };
  let where = await locate();
  let onSource = where.includes(p.source.uuid);
  let onTarget = where.includes(p.target.uuid);
  let target = p.target;
  if (onSource && onTarget) {
    await ctx.log('Trying to cleanup after failed migration');
    const info = await rpc(ctx, p.source, STEP.migrationInfo, { spec: instanceSpec(ctx.cfg, p.inst) });
    if (!info.ok) throw new OpExecError(`Failed fetching source migration information from ${p.source.name}: ${info.msg}`);
    const [a, b] = await abortMigration(ctx, p, info.payload);
    if (!a.ok || !b.ok) throw new OpExecError(`Instance migration cleanup failed: ${[a, b].map((r) => (r.ok ? '' : r.msg)).join(',')}`);
    where = await locate();
    onSource = where.includes(p.source.uuid);
    onTarget = where.includes(p.target.uuid);
  }
  if (onSource && onTarget) {
    throw new OpExecError("Instance seems to be running on two nodes, or the hypervisor is confused; you will have to ensure manually that it runs only on one and restart this operation");
  }
  if (!onSource && !onTarget) {
    if (where.length !== 1) {
      throw new OpExecError("Instance does not seem to be running at all; in this case it's safer to repair by running 'gnt-instance stop' to ensure disk shutdown, and then restarting it");
    }
    target = ctx.cfg.nodes.get(where[0])!;
    await ctx.log(`* instance running on unexpected node (${target.name}), updating as the new secondary`);
    onTarget = true;
  }
  let inst = p.inst;
  let demoted: Node;
  if (onTarget) {
    await ctx.log(`* instance running on secondary node (${target.name}), updating config`);
    inst = await setPrimary(ctx, inst, target);
    demoted = p.source;
  } else {
    await ctx.log(`* instance confirmed to be running on its primary node (${p.source.name})`);
    demoted = target;
  }
  await closeDisks(ctx, demoted);
  await openDisks(ctx, inst, primaryNode(ctx.cfg, inst), true);
  await ctx.log('* done');
}

/** TLMigrateInstance._ExecFailover. */
async function execFailover(ctx: OpContext, p: Plan, mode: Mode): Promise<void> {
  const { inst, source, target } = p;
  if (disksActive(inst)) {
    // Only drbd disks can be degraded on the target; shared files and diskless cannot.
    await ctx.log('* checking disk consistency between source and target');
    if (internallyMirrored(inst)) await checkTargetConsistency(ctx, inst, source, target, mode.ignoreConsistency);
  } else {
    await ctx.log('* not checking disk consistency as instance is not running');
  }
  await ctx.log('* shutting down instance on source node');
  const stopped = await rpc(ctx, source, STEP.instanceStop, { name: inst.name, hypervisor: inst.hypervisor, timeout: mode.shutdownTimeout });
  if (!stopped.ok) {
    if (mode.ignoreConsistency || source.offline) {
      await logWarning(ctx, `Could not shutdown instance ${inst.name} on node ${source.name}, proceeding anyway; please make sure node ${source.name} is down; error details: ${stopped.msg}`);
    } else {
      throw new OpExecError(`Could not shutdown instance ${inst.name} on node ${source.name}: ${stopped.msg}`);
    }
  }
  // Closing and shutting down file disks is no work on the node, but an
  // unreachable node fails them as Ganeti's RPCs would.
  await closeDisks(ctx, source);
  const down = unreachable(ctx.cfg, source);
  if (down) {
    if (!(down.offline || mode.ignoreConsistency)) throw new OpExecError(`Cannot close instance disks on node ${source.name}: ${down.msg}`);
    await logWarning(ctx, `Could not close instance disks on node ${source.name}, proceeding anyway`);
  }
  await ctx.log("* deactivating the instance's disks on source node");
  if (down) {
    for (const [i] of inst.disks.entries()) await logWarning(ctx, `Could not shutdown block device ${ivName(i)} on node ${source.name}: ${down.msg}`);
  } else if (!(await shutdownDisks(ctx, inst, { ignorePrimary: true }))) {
    throw new OpExecError("Can't shut down the instance's disks");
  }

  const moved = await setPrimary(ctx, inst, target);
  if (moved.admin_state !== 'up') return;
  await ctx.log(`* activating the instance's disks on target node ${target.name}`);
  // With a dead primary the surviving copy is made authoritative (ignore_consistency).
  const [ok] = await assembleDisks(ctx, moved, undefined, { ignoreSecondaries: true, force: mode.ignoreConsistency });
  if (!ok) throw new OpExecError("Can't activate the instance's disks");
  await ctx.log(`* starting the instance on the target node ${target.name}`);
  const started = await rpc(ctx, target, STEP.instanceStart, { spec: instanceSpec(ctx.cfg, moved), paused: false });
  if (!started.ok) throw new OpExecError(`Could not start instance ${inst.name} on node ${target.name}: ${started.msg}`);
}

/** CheckDiskConsistency on the target (a secondary): every copy there must be in sync. */
async function checkTargetConsistency(ctx: OpContext, inst: Instance, source: Node, target: Node, ignore: boolean): Promise<void> {
  const r = await mirrorStatus(ctx, inst, target);
  for (const [i] of inst.disks.entries()) {
    const m = r.ok ? r.payload[i] : null;
    if (m && !m.is_degraded) continue;
    if (source.offline) {
      await ctx.log(`Node ${source.name} is offline, ignoring degraded disk ${i} on target node ${target.name}`);
    } else if (!ignore) {
      throw new OpExecError(`Disk ${i} is degraded on target node, aborting failover`);
    }
  }
}

async function exec(p: Plan, ctx: OpContext, mode: Mode): Promise<null> {
  if (p.failover) {
    await ctx.log(`Failover instance ${p.inst.name}`);
    await execFailover(ctx, p, mode);
  } else {
    await ctx.log(`Migrating instance ${p.inst.name}`);
    if (p.cleanup) await execCleanup(ctx, p);
    else await execMigration(ctx, p, mode.allowRuntimeChanges);
  }
  return null;
}

/** Ganeti's constants.DEFAULT_SHUTDOWN_TIMEOUT, which migration uses for its fallback. */
const DEFAULT_SHUTDOWN_TIMEOUT = 120;

const migrateMode = (op: Opcode): Mode => ({
  failover: false, fallback: op.allow_failover === true, ignoreConsistency: false,
  allowRuntimeChanges: op.allow_runtime_changes !== false, shutdownTimeout: DEFAULT_SHUTDOWN_TIMEOUT,
});

const failoverMode = (op: Opcode): Mode => ({
  failover: true, fallback: false, ignoreConsistency: op.ignore_consistency === true,
  allowRuntimeChanges: true, shutdownTimeout: Number(op.shutdown_timeout),
});

export const OP_INSTANCE_MIGRATE = define<Plan>({
  locks: migrationLocks,
  prereq: (op, ctx) => prereq(op, ctx, migrateMode(op)),
  exec: (plan, op, ctx) => exec(plan, ctx, migrateMode(op)),
});

export const OP_INSTANCE_FAILOVER = define<Plan>({
  locks: migrationLocks,
  prereq: (op, ctx) => prereq(op, ctx, failoverMode(op)),
  exec: (plan, op, ctx) => exec(plan, ctx, failoverMode(op)),
});
