// Node group opcodes (cmdlib/group.py): add, remove, rename, change
// parameters, and move nodes between groups. Parameter merging is in
// group-params.ts.
import { randomUUID } from 'node:crypto';
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { Instance, Node, NodeGroup, Params } from '../../src/model.ts';
import { DISK_DT_TYPES, NDS_PARAMETER_TYPES, forceDictType, updatedParams } from '../params.ts';
import { pyRepr } from '../py.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import { niceSort } from '../../src/nicesort.ts';
import { define } from './context.ts';
import { logWarning } from './feedback.ts';
import { findGroup, findNode } from './lookup.ts';
import {
  checkDiskAccessModes, checkGroupIPolicy, mergeDiskState, mergeHvState, newGroupDiskParams, updatedGroupDiskParams,
  updatedGroupIPolicy,
} from './group-params.ts';
import { BGL_SHARED, groupLock, nodeLock } from './lock-requests.ts';

const groupLocks = (op: Opcode): LockRequest[] => [BGL_SHARED, groupLock(op.group_name)];

/** Templates whose disks live on two nodes (constants.DTS_INT_MIRROR). */
const DTS_INT_MIRROR = ['drbd'];

const params = (v: unknown): Params | null => (v as Params | null) ?? null;

export const OP_GROUP_ADD = define<NodeGroup>({
  locks: groupLocks,
  prereq(op, { cfg }) {
    const name = String(op.group_name);
    const existing = cfg.byName('nodegroup', name);
    if (existing) {
      throw new OpPrereqError(`Desired group name '${name}' already exists as a node group (UUID: ${existing.uuid})`, 'already_exists');
    }
    const ndparams = op.ndparams ? forceDictType(op.ndparams, NDS_PARAMETER_TYPES) : {};
    const hvState = mergeHvState(params(op.hv_state), undefined);
    const diskState = mergeDiskState(params(op.disk_state), undefined);
    const diskparams = op.diskparams && Object.keys(op.diskparams).length ? newGroupDiskParams(op.diskparams as Record<string, Params>) : {};
    const ipolicy = { ...params(op.ipolicy) };
    if (Object.keys(ipolicy).length) checkGroupIPolicy(cfg.cluster, ipolicy);
    const now = Date.now() / 1000;
    const group: NodeGroup = {
      uuid: randomUUID(), ctime: now, mtime: now, serial_no: 1, tags: [], name,
      alloc_policy: (op.alloc_policy as NodeGroup['alloc_policy'] | null) ?? 'preferred',
      ndparams, diskparams, ipolicy, networks: {},
    };
    if (hvState) group.hv_state_static = hvState;
    if (diskState) group.disk_state_static = diskState;
    return group;
  },
  async exec(group, _op, ctx) {
    // Ganeti connects a new group to the instance communication network; rapid's cluster has none.
    await ctx.cfg.commit([{ kind: 'nodegroup', obj: group, isNew: true }]);
    return null;
  },
});

export const OP_GROUP_REMOVE = define<NodeGroup>({
  locks: groupLocks,
  prereq(op, { cfg }) {
    const group = findGroup(cfg, op.group_name);
    // Ganeti lists the nodes by uuid here.
    const members = cfg.all('node').filter((n) => n.group === group.uuid).map((n) => n.uuid);
    if (members.length) {
      throw new OpPrereqError(`Group '${op.group_name}' not empty, has the following nodes: ${niceSort(members).join(', ')}`, 'wrong_state');
    }
    if (cfg.groups.size === 1) throw new OpPrereqError(`Group '${op.group_name}' is the only group, cannot be removed`, 'wrong_state');
    return group;
  },
  async exec(group, _op, ctx) {
    await ctx.cfg.commit([], [{ kind: 'nodegroup', obj: group }]);
    return null;
  },
});

export const OP_GROUP_RENAME = define<NodeGroup>({
  // The new name is locked too, so two renames (or an add) cannot take it at once.
  locks: (op) => [...groupLocks(op), groupLock(op.new_name)],
  prereq(op, { cfg }) {
    const group = findGroup(cfg, op.group_name);
    const clash = cfg.byName('nodegroup', String(op.new_name)) ?? cfg.groups.get(String(op.new_name));
    if (clash) {
      throw new OpPrereqError(`Desired new name '${op.new_name}' clashes with existing node group (UUID: ${clash.uuid})`, 'already_exists');
    }
    return group;
  },
  async exec(group, op, ctx) {
    await ctx.cfg.commit([{ kind: 'nodegroup', obj: { ...group, name: String(op.new_name) } }]);
    return op.new_name;
  },
});

interface SetParamsPlan { group: NodeGroup; updated: NodeGroup; result: [string, string][] }

export const OP_GROUP_SET_PARAMS = define<SetParamsPlan>({
  locks: groupLocks,
  prereq(op, { cfg }) {
    const changes = [op.ndparams, op.diskparams, op.alloc_policy, op.hv_state, op.disk_state, op.ipolicy];
    if (changes.every((c) => c === null || c === undefined)) {
      throw new OpPrereqError('Please pass at least one modification', 'wrong_input');
    }
    if (op.diskparams) checkDiskAccessModes(op.diskparams as Record<string, Params>);
    const group = findGroup(cfg, op.group_name);
    const updated: NodeGroup = { ...group };
    // Ganeti reports only these two, as [name, str(value)] pairs.
    const result: [string, string][] = [];
    if (op.ndparams && Object.keys(op.ndparams).length) {
      updated.ndparams = forceDictType(updatedParams(group.ndparams, op.ndparams as Params), NDS_PARAMETER_TYPES);
      result.push(['ndparams', pyRepr(updated.ndparams, NDS_PARAMETER_TYPES)]);
    }
    if (op.diskparams && Object.keys(op.diskparams).length) {
      updated.diskparams = updatedGroupDiskParams(group.diskparams, op.diskparams as Record<string, Params>);
      result.push(['diskparams', pyRepr(updated.diskparams, DISK_DT_TYPES)]);
    }
    if (op.alloc_policy) updated.alloc_policy = op.alloc_policy as NodeGroup['alloc_policy'];
    const hvState = mergeHvState(params(op.hv_state), group.hv_state_static);
    if (hvState) updated.hv_state_static = hvState;
    const diskState = mergeDiskState(params(op.disk_state), group.disk_state_static);
    if (diskState) updated.disk_state_static = diskState;
    if (op.ipolicy && Object.keys(op.ipolicy).length) {
      updated.ipolicy = updatedGroupIPolicy(group.ipolicy, op.ipolicy as Params);
      checkGroupIPolicy(cfg.cluster, updated.ipolicy);
    }
    return { group, updated, result };
  },
  async exec({ updated, result }, _op, ctx) {
    await ctx.cfg.commit([{ kind: 'nodegroup', obj: updated }]);
    return result;
  },
});

// ---------------------------------------------------------------------------

interface AssignPlan { moves: Node[] }

/** The nodes an opcode names, or every node for an empty list (cmdlib GetWantedNodes). */
const wantedNodes = (cfg: ConfigStore, names: unknown): Node[] =>
  Array.isArray(names) && names.length ? names.map((n) => findNode(cfg, n)) : cfg.all('node');

/** The instances whose nodes would span groups (LUGroupAssignNodes.CheckAssignmentForSplitInstances). */
export function splitInstances(cfg: Snapshot, targetGroup: string, nodes: Node[]): { added: string[]; kept: string[] } {
  const moved = new Set(nodes.filter((n) => n.group !== targetGroup).map((n) => n.uuid));
  const groupNow = (uuid: string) => cfg.nodes.get(uuid)?.group;
  const groupAfter = (uuid: string) => (moved.has(uuid) ? targetGroup : groupNow(uuid));
  const added: string[] = [];
  const kept: string[] = [];
  for (const inst of cfg.instances.values()) {
    if (!mirrored(inst)) continue;
    const members = [inst.primary_node, ...inst.secondary_nodes];
    const before = new Set(members.map(groupNow)).size > 1;
    const after = new Set(members.map(groupAfter)).size > 1;
    if (after && !before) added.push(inst.name);
    if (after && before) kept.push(inst.name);
  }
  return { added: niceSort(added), kept: niceSort(kept) };
}

const mirrored = (inst: Instance): boolean =>
  DTS_INT_MIRROR.includes(inst.disk_template) || inst.disks.some((d) => DTS_INT_MIRROR.includes(d.dev_type));

export const OP_GROUP_ASSIGN_NODES = define<AssignPlan>({
  locks(op, cfg) {
    // The target group, every group a node leaves, and the nodes themselves;
    // unknown nodes lock nothing here and fail in prereq.
    const nodes = Array.isArray(op.nodes) && op.nodes.length
      ? op.nodes.flatMap((n) => cfg.byName('node', String(n)) ?? []) : cfg.all('node');
    const groups = new Set([String(op.group_name), ...nodes.map((n) => cfg.groups.get(n.group)?.name ?? n.group)]);
    return [BGL_SHARED, ...[...groups].map((g) => groupLock(g)), ...nodes.map((n) => nodeLock(n.name, false))];
  },
  async prereq(op, ctx) {
    const { cfg } = ctx;
    const group = findGroup(cfg, op.group_name);
    const nodes = wantedNodes(cfg, op.nodes);
    const { added, kept } = splitInstances(cfg, group.uuid, nodes);
    if (added.length) {
      // An OpExecError although raised before anything changes: Ganeti's class.
      if (!op.force) throw new OpExecError(`The following instances get split by this change and --force was not given: ${added.join(', ')}`);
      await logWarning(ctx, `This operation will split the following instances: ${added.join(', ')}`);
      if (kept.length) await logWarning(ctx, `In addition, these already-split instances continue to be split across groups: ${kept.join(', ')}`);
    }
    return { moves: nodes.filter((n) => n.group !== group.uuid).map((n) => ({ ...n, group: group.uuid })) };
  },
  async exec({ moves }, _op, ctx) {
    if (moves.length) await ctx.cfg.commit(moves.map((obj) => ({ kind: 'node' as const, obj })));
    return null;
  },
});
