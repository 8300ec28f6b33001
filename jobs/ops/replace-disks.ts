// LUInstanceReplaceDisks / TLReplaceDisks for rapid's drbd: a new copy on a
// new secondary node (replace_new_secondary), a fresh copy on the current
// secondary (replace_on_secondary) or on the primary (replace_on_primary),
// or whichever side is faulty (replace_auto). The primary's copy can be
// replaced only while the guest is down (Ganeti swaps LVs under a running
// DRBD device; rapid's replica is one file owned by the storage daemon the
// guest is attached to): the secondary then fills the new copy, for once as
// the source.
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Disk, Instance, Node } from '../../src/model.ts';
import type { Opcode } from '../opcodes.ts';
import { STEP } from '../node-rpc.ts';
import { define, type OpContext } from './context.ts';
import { findInstance, findNode, primaryNode } from './lookup.ts';
import { logInfo, logWarning } from './feedback.ts';
import { allocateDrbd, drbdIds, drbdLogicalId, isDrbd } from './drbd.ts';
import {
  STATUS_TIMEOUT_MS, assembleDisks, checkNodeNotDrained, checkNodeVmCapable, instanceOpLocks, mirrorStatus, pickNode, rpc,
  shutdownDisks, specWith, unreachable, waitForSync, type MirrorStatus,
} from './instance-disks.ts';

/** constants.LDS_FAULTY. */
const LDS_FAULTY = 4;
const LDS_OKAY = 1;
const STEPS = 6;

interface Plan {
  inst: Instance;
  mode: 'replace_new_secondary' | 'replace_on_secondary' | 'replace_on_primary' | 'replace_auto';
  /** Indexes of the disks to replace. */
  disks: number[];
  primary: Node;
  secondary: Node;
  /** replace_new_secondary: where the new copy goes. */
  newNode: Node | null;
  /** replace_auto found the secondary's copies faulty (it never replaces the primary's). */
  target: Node | null;
}

/** The mirror status of some disks on a node; null where it has none (not assembled, or no answer). */
async function statuses(ctx: OpContext, inst: Instance, node: Node, disks: Disk[]): Promise<(MirrorStatus | null)[] | null> {
  const r = await mirrorStatus(ctx, inst, node, disks, STATUS_TIMEOUT_MS);
  return r.ok ? r.payload : null;
}

/** TLReplaceDisks.CheckPrereq. */
async function prereq(op: Opcode, ctx: OpContext): Promise<Plan> {
  const { cfg } = ctx;
  const mode = String(op.mode);
  if (mode === 'replace_new_secondary') {
    if (op.remote_node === null && op.iallocator === null) {
      throw new OpPrereqError('When changing the secondary either an iallocator script must be used or the new node given', 'wrong_input');
    }
    if (op.remote_node !== null && op.iallocator !== null) throw new OpPrereqError('Do not specify both, iallocator and node', 'wrong_input');
  } else if (op.remote_node !== null || op.iallocator !== null) {
    throw new OpPrereqError('The iallocator and new node options can only be used when changing the secondary node', 'wrong_input');
  }
  const inst = findInstance(cfg, op.instance_name);
  const named = op.remote_node !== null ? findNode(cfg, op.remote_node) : null;
  if (inst.secondary_nodes.length !== 1) {
    throw new OpPrereqError(`The instance has a strange layout, expected one secondary but found ${inst.secondary_nodes.length}`, 'internal_error');
  }
  const primary = primaryNode(cfg, inst);
  const secondary = cfg.nodes.get(inst.secondary_nodes[0]!)!;
  let newNode = named;
  if (mode === 'replace_new_secondary' && op.iallocator !== null) {
    newNode = pickNode(cfg, String(op.iallocator), [primary.uuid, secondary.uuid], 0, `Can't compute nodes using iallocator '${op.iallocator}'`);
  }
  if (newNode?.uuid === primary.uuid) throw new OpPrereqError('The specified node is the primary node of the instance', 'wrong_input');
  if (newNode?.uuid === secondary.uuid) throw new OpPrereqError('The specified node is already the secondary node of the instance', 'wrong_input');
  const given = (op.disks as number[]) ?? [];
  if (given.length && (mode === 'replace_auto' || mode === 'replace_new_secondary')) throw new OpPrereqError('Cannot specify disks to be replaced', 'wrong_input');
  if (!inst.disks.length || !inst.disks.every(isDrbd)) throw new OpPrereqError('Can only run replace disks for DRBD8-based instances', 'wrong_input');
  if (mode === 'replace_on_primary' && inst.admin_state === 'up') {
    throw new OpPrereqError(`Instance ${inst.name} is running: rapid replaces the primary's copy only of a stopped instance (its storage daemon serves the guest); stop it, or fail over and replace on the secondary`, 'wrong_state');
  }
  for (const i of given) if (!inst.disks[i]) throw new OpPrereqError(`Invalid disk index: ${i} (instace has disks 0 to ${inst.disks.length - 1}`, 'wrong_input');
  let disks = given.length ? given : inst.disks.map((_, i) => i);
  let target: Node | null = null;
  if (mode === 'replace_auto') {
    // _FindFaultyDisks on both nodes; a copy the node cannot show is faulty too.
    const faulty = async (n: Node) => {
      const s = await statuses(ctx, inst, n, inst.disks);
      return inst.disks.map((_, i) => i).filter((i) => !s?.[i] || s[i]!.ldisk_status === LDS_FAULTY);
    };
    const [onPrimary, onSecondary] = [await faulty(primary), await faulty(secondary)];
    if (onPrimary.length && onSecondary.length) {
      throw new OpPrereqError(`Instance ${inst.name} has faulty disks on more than one node and can not be repaired automatically`, 'wrong_state');
    }
    if (onPrimary.length && inst.admin_state === 'up') {
      throw new OpPrereqError(`Instance ${inst.name} has faulty disks on its primary node ${primary.name}, and rapid replaces the primary's copy only of a stopped instance`, 'wrong_state');
    }
    disks = onPrimary.length ? onPrimary : onSecondary;
    target = onPrimary.length ? primary : onSecondary.length ? secondary : null;
  }
  if (newNode) {
    checkNodeNotDrained(newNode);
    checkNodeVmCapable(newNode);
  }
  return { inst, mode: mode as Plan['mode'], disks, primary, secondary, newNode, target };
}

const step = (ctx: OpContext, n: number, what: string) => ctx.log(`STEP ${n}/${STEPS} ${what}`);

/** Steps 1 and 2: the node that keeps its copies (`other`) has every disk, and they are sound. */
async function checkOther(ctx: OpContext, p: Plan, other: Node): Promise<void> {
  await step(ctx, 1, 'Check device existence');
  const disks = p.disks.map((i) => p.inst.disks[i]!);
  const s = await statuses(ctx, p.inst, other, disks);
  for (const [k, i] of p.disks.entries()) {
    await logInfo(ctx, `Checking disk/${i} on ${other.name}`);
    if (!s?.[k]) throw new OpExecError(`Can't find disk/${i} on node ${other.name}: disk not found`);
  }
  await step(ctx, 2, 'Check peer consistency');
  for (const [k, i] of p.disks.entries()) {
    await logInfo(ctx, `Checking disk/${i} consistency on node ${other.name}`);
    // The primary's own copy must be sound (ldisk); a secondary's must also be connected and current.
    if (s![k]!.ldisk_status !== LDS_OKAY || (other.uuid !== p.primary.uuid && s![k]!.is_degraded)) {
      throw new OpExecError(`Node ${other.name} has degraded storage, unsafe to replace disks for instance ${p.inst.name}`);
    }
  }
}

const checkPrimary = (ctx: OpContext, p: Plan) => checkOther(ctx, p, p.primary);

/** Steps 5 and 6: the new copies catch up; then what the old ones left goes. */
async function finish(ctx: OpContext, inst: Instance, old: { node: Node; disks: Disk[] } | null): Promise<void> {
  await step(ctx, 5, 'Sync devices');
  if (!(await waitForSync(ctx, inst))) throw new OpExecError('DRBD device is degraded!');
  await step(ctx, 6, 'Removing old storage');
  if (!old) return;
  const r = await rpc(ctx, old.node, STEP.disksRemove, { spec: specWith(ctx.cfg, inst, old.disks) });
  if (!r.ok) await logWarning(ctx, `Can't remove old LV: ${r.msg}`);
}

/** _ExecDrbd8Secondary: the copies move from the old secondary to a new node. */
async function changeSecondary(ctx: OpContext, p: Plan, newNode: Node): Promise<void> {
  const { inst } = p;
  await checkPrimary(ctx, p);
  await step(ctx, 3, 'Allocate new storage');
  const fresh = allocateDrbd(ctx.cfg, inst.primary_node, newNode.uuid, inst.disks.length);
  const disks = inst.disks.map((d, i) => {
    const ids = drbdIds(d);
    const p0 = ids.nodes[0] === inst.primary_node ? 0 : 1;
    // The port, the primary's minor and the secret stay (Ganeti's new_net_id).
    return { ...d, logical_id: drbdLogicalId(inst.primary_node, newNode.uuid, { port: ids.port, minors: [ids.minors[p0], fresh[i]!.minors[1]], secret: ids.secret }) };
  });
  const moved: Instance = { ...inst, disks, secondary_nodes: [newNode.uuid] };
  for (const i of p.disks) await logInfo(ctx, `Adding new local storage on ${newNode.name} for disk/${i}`);
  const made = await rpc(ctx, newNode, STEP.disksCreate, { spec: specWith(ctx.cfg, moved, disks) });
  if (!made.ok) throw new OpExecError(`Can't create block device: ${made.msg}`);

  await step(ctx, 4, 'Changing drbd configuration');
  for (const i of p.disks) await logInfo(ctx, `Shutting down drbd for disk/${i} on old node`);
  const down = await rpc(ctx, p.secondary, STEP.disksShutdown, { spec: specWith(ctx.cfg, inst, inst.disks) }, 10_000);
  if (!down.ok) await logWarning(ctx, `Failed to shutdown drbd for disk on old node: ${down.msg}`);
  await logInfo(ctx, 'Updating instance configuration');
  await ctx.cfg.commit([{ kind: 'instance', obj: moved }]);
  const current = ctx.cfg.instances.get(inst.uuid)!;
  await logInfo(ctx, `Attaching primary drbds to new secondary (standalone => connected)`);
  const [ok] = await assembleDisks(ctx, current);
  if (!ok) throw new OpExecError("Can't attach drbd disks on node to new secondary");
  await finish(ctx, current, unreachable(ctx.cfg, p.secondary) ? null : { node: p.secondary, disks: inst.disks });
}

/**
 * Step 3 on one node: its copies are made anew. One file per copy: the old
 * one goes first; the new one starts Inconsistent, so its peer resyncs it in full.
 */
async function remakeCopies(ctx: OpContext, p: Plan, node: Node, disks: Disk[]): Promise<void> {
  const old = await rpc(ctx, node, STEP.disksRemove, { spec: specWith(ctx.cfg, p.inst, disks) });
  if (!old.ok) throw new OpExecError(`Can't remove the old storage on ${node.name}: ${old.msg}`);
  for (const i of p.disks) await logInfo(ctx, `Adding storage on ${node.name} for disk/${i}`);
  const made = await rpc(ctx, node, STEP.disksCreate, { spec: specWith(ctx.cfg, p.inst, disks) });
  if (!made.ok) throw new OpExecError(`Can't create block device: ${made.msg}`);
}

/** _ExecDrbd8DiskOnly on the secondary: its copies are made anew and resynced in full. */
async function replaceOnSecondary(ctx: OpContext, p: Plan): Promise<void> {
  const { inst } = p;
  const disks = p.disks.map((i) => inst.disks[i]!);
  await checkPrimary(ctx, p);
  await step(ctx, 3, 'Allocate new storage');
  await remakeCopies(ctx, p, p.secondary, disks);
  await step(ctx, 4, 'Changing drbd configuration');
  const [ok] = await assembleDisks(ctx, inst, p.disks);
  if (!ok) throw new OpExecError("Can't add local storage to drbd");
  await finish(ctx, inst, null);
}

/**
 * replace_on_primary of a stopped instance: the primary's copies are made
 * anew and the secondary fills them, as the source for once (the roles are
 * swapped in what the nodes are told, not in the configuration); shut down
 * after, the pair is in sync and starts with its real roles.
 */
async function replaceOnPrimary(ctx: OpContext, p: Plan): Promise<void> {
  const { inst } = p;
  const disks = p.disks.map((i) => inst.disks[i]!);
  await checkOther(ctx, p, p.secondary);
  await step(ctx, 3, 'Allocate new storage');
  if (!(await shutdownDisks(ctx, inst))) throw new OpExecError("Can't shut down the instance's disks");
  await remakeCopies(ctx, p, p.primary, disks);
  await step(ctx, 4, 'Changing drbd configuration');
  const swapped: Instance = { ...inst, primary_node: p.secondary.uuid, secondary_nodes: [p.primary.uuid] };
  const [ok] = await assembleDisks(ctx, swapped, p.disks);
  if (!ok) throw new OpExecError("Can't add local storage to drbd");
  await step(ctx, 5, 'Sync devices');
  if (!(await waitForSync(ctx, swapped))) throw new OpExecError('DRBD device is degraded!');
  if (!(await shutdownDisks(ctx, swapped))) throw new OpExecError("Can't shut down the instance's disks");
  await step(ctx, 6, 'Removing old storage');
}

export const OP_INSTANCE_REPLACE_DISKS = define<Plan>({
  locks: (op, cfg: ConfigStore) => instanceOpLocks(op, cfg, [op.remote_node as string | null]),
  prereq,
  async exec(p, _op, ctx) {
    const { inst } = p;
    if (!p.disks.length) {
      await ctx.log(`No disks need replacement for instance '${inst.name}'`);
      return null;
    }
    await ctx.log(`Replacing disk(s) ${p.disks.join(', ')} for instance '${inst.name}'`);
    await ctx.log(`Current primary node: ${p.primary.name}`);
    await ctx.log(`Current secondary node: ${p.secondary.name}`);
    // TLReplaceDisks.Exec: disks that are not active are activated for the replacement and deactivated after.
    const activate = inst.admin_state !== 'up';
    if (activate) await assembleDisks(ctx, inst, undefined, { ignoreSecondaries: true });
    try {
      if (p.newNode) await changeSecondary(ctx, p, p.newNode);
      else if (p.mode === 'replace_on_primary' || p.target?.uuid === p.primary.uuid) await replaceOnPrimary(ctx, p);
      else await replaceOnSecondary(ctx, p);
    } finally {
      if (activate) await shutdownDisks(ctx, ctx.cfg.instances.get(inst.uuid) ?? inst);
    }
    return null;
  },
});

