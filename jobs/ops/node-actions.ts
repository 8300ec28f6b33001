// Node administration (cmdlib/node.py LUNodeSetParams, LUNodePowercycle,
// LUNodeEvacuate, LUNodeMigrate, LUNodeQueryStorage, LUNodeModifyStorage,
// LURepairNodeStorage) with Ganeti's checks, texts, ecodes and results.
import { isIPv4 } from 'node:net';
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { Instance, Node, Params } from '../../src/model.ts';
import { filledBeParams } from '../../src/fill.ts';
import { fillDict } from '../../src/defaults.ts';
import { NDS_PARAMETER_TYPES, forceDictType, updatedParams } from '../params.ts';
import { commaJoin, pyStr } from '../py.ts';
import { fillOpcode, type Opcode } from '../opcodes.ts';
import { STEP } from '../node-rpc.ts';
import { niceSort } from '../../src/nicesort.ts';
import { define, type OpContext } from './context.ts';
import { logInfo, logWarning } from './feedback.ts';
import { expandNode } from './lookup.ts';
import { submitChildJobs } from './child-jobs.ts';
import { BGL_SHARED, nodeLock } from './lock-requests.ts';

const nodeName = (cfg: Snapshot, uuid: string): string => cfg.nodes.get(uuid)?.name ?? uuid;

// ---------------------------------------------------------------------------
// The master candidate pool (config.GetMasterCandidateStats,
// MaintainCandidatePool, cmdlib.common.AdjustCandidatePool).

/** Candidates now, and how many there should be, leaving out `exceptions`. */
export function candidateStats(nodes: Iterable<Node>, poolSize: number, exceptions: readonly string[] = []): { now: number; should: number } {
  let now = 0;
  let possible = 0;
  for (const n of nodes) {
    if (exceptions.includes(n.uuid)) continue;
    if (!(n.offline || n.drained) && n.master_capable) possible++;
    if (n.master_candidate) now++;
  }
  return { now, should: Math.min(possible, poolSize) };
}

/**
 * The nodes to promote so the pool reaches its desired size, already
 * promoted; Ganeti picks them in random order, and so does rapid.
 */
export function candidatePromotions(nodes: readonly Node[], poolSize: number, exceptions: readonly string[]): Node[] {
  const { now, should } = candidateStats(nodes, poolSize, exceptions);
  const eligible = nodes.filter((n) => !(n.master_candidate || n.offline || n.drained || exceptions.includes(n.uuid) || !n.master_capable));
  for (let i = eligible.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [eligible[i], eligible[j]] = [eligible[j], eligible[i]];
  }
  return eligible.slice(0, Math.max(0, should - now)).map((n) => ({ ...n, master_candidate: true }));
}

/** AdjustCandidatePool's feedback, once the promotions are in the configuration. */
export async function reportCandidatePool(ctx: OpContext, promoted: readonly Node[], poolSize: number, exceptions: readonly string[]): Promise<void> {
  if (promoted.length) await logInfo(ctx, `Promoted nodes to master candidate role: ${commaJoin(promoted.map((n) => n.name))}`);
  const { now, should } = candidateStats(ctx.cfg.nodes.values(), poolSize, exceptions);
  if (now > should) await logInfo(ctx, `Note: more nodes are candidates (${now}) than desired (${should})`);
}

// ---------------------------------------------------------------------------
// OP_NODE_SET_PARAMS

const FLAGS = ['master_candidate', 'drained', 'offline'] as const;
type Flag = (typeof FLAGS)[number];
type Role = 'candidate' | 'drained' | 'offline' | 'regular';
const ROLE_FLAGS: Record<Role, [boolean, boolean, boolean]> = {
  candidate: [true, false, false], drained: [false, true, false], offline: [false, false, true], regular: [false, false, false],
};
const roleOf = (n: Pick<Node, Flag>): Role => (n.master_candidate ? 'candidate' : n.drained ? 'drained' : n.offline ? 'offline' : 'regular');

/** NDC_GLOBALS: node parameters only a cluster or group may set. */
const NDC_GLOBALS = ['exclusive_storage'];

interface SetParamsPlan {
  updated: Node;
  /** Other nodes promoted to keep the candidate pool full (auto_promote). */
  promoted: Node[];
  result: [string, string][];
  adjustPool: boolean;
}

/** SupportsOob: the node's effective oob_program is set. */
function supportsOob(cfg: Snapshot, node: Node): boolean {
  const group = cfg.groups.get(node.group);
  return Boolean(fillDict(fillDict(cfg.cluster.ndparams, group?.ndparams), node.ndparams).oob_program);
}

/** _CheckNodeHasSecondaryIP, asked of the node's own worker (netutils.IPAddress.Own there). */
async function checkNodeHasIp(ctx: OpContext, node: Node, ip: string): Promise<void> {
  let owned: unknown;
  try {
    if (!ctx.cfg.liveRuntime(node.uuid)) throw new Error(`Node ${node.name} is not responding (its node worker sends no heartbeat)`);
    owned = await ctx.node(node.name, STEP.hasIpAddress, { address: ip }, 30_000);
  } catch (err) {
    throw new OpPrereqError(`Failure checking secondary ip on node ${node.name}: ${(err as Error).message}`, 'environment_error');
  }
  if (!owned) {
    throw new OpPrereqError(`Node claims it doesn't have the secondary ip you gave (${ip}), please fix and re-run this command`, 'environment_error');
  }
}

export const OP_NODE_SET_PARAMS = define<SetParamsPlan>({
  locks(op, cfg) {
    const mightDemote = op.master_candidate === false || op.offline === true || op.drained === true || op.master_capable === false;
    // Refilling the candidate pool may promote any node.
    const names = op.auto_promote && mightDemote ? cfg.all('node').map((n) => n.name) : [op.node_name];
    return [BGL_SHARED, ...names.map((n) => nodeLock(n, false))];
  },
  async prereq(op, ctx) {
    const { cfg } = ctx;
    const node = expandNode(cfg, op.node_name, op.node_uuid);
    const allMods = [op.offline, op.master_candidate, op.drained, op.master_capable, op.vm_capable,
      op.secondary_ip, op.ndparams, op.hv_state, op.disk_state];
    if (allMods.every((m) => m === null || m === undefined)) throw new OpPrereqError('Please pass at least one modification', 'wrong_input');
    if (allMods.filter((m) => m === true).length > 1) {
      throw new OpPrereqError("Can't set the node into more than one state at the same time", 'wrong_input');
    }
    const mightDemote = op.master_candidate === false || op.offline === true || op.drained === true || op.master_capable === false;
    const secondaryIp = (op.secondary_ip as string | null) || null;
    if (secondaryIp && !isIPv4(secondaryIp)) {
      throw new OpPrereqError(`Secondary IP (${secondaryIp}) needs to be a valid IPv4 address`, 'wrong_input');
    }
    // rapid's nodes hold no static resource state (Ganeti's hv_state_static / disk_state_static).
    for (const key of ['hv_state', 'disk_state'] as const) {
      if (op[key] && Object.keys(op[key] as Params).length) {
        throw new OpPrereqError(`Declaring a node's static state ('${key}') is not supported by rapid`, 'wrong_input');
      }
    }
    const lockAll = op.auto_promote === true && mightDemote;
    const isMaster = node.uuid === cfg.cluster.master_node;
    const want: Record<Flag, boolean | null> = {
      master_candidate: op.master_candidate as boolean | null,
      drained: op.drained as boolean | null,
      offline: op.offline as boolean | null,
    };

    if (FLAGS.some((f) => want[f] !== null) && isMaster) {
      throw new OpPrereqError('The master role can be changed only via master-failover', 'wrong_input');
    }
    if (want.master_candidate && !node.master_capable) {
      throw new OpPrereqError(`Node ${node.name} is not master capable, cannot make it a master candidate`, 'wrong_state');
    }
    if (op.vm_capable === false && [...cfg.instances.values()].some((i) => i.primary_node === node.uuid || i.secondary_nodes.includes(node.uuid))) {
      throw new OpPrereqError(`Node ${node.name} hosts instances, cannot unset the vm_capable flag`, 'wrong_state');
    }
    const poolSize = cfg.cluster.candidate_pool_size;
    if (node.master_candidate && mightDemote && !lockAll) {
      const { now, should } = candidateStats(cfg.nodes.values(), poolSize, [node.uuid]);
      if (now < should) {
        throw new OpPrereqError('Not enough master candidates, please pass auto promote option to allow promotion (--auto-promote or RAPI auto_promote=True)', 'wrong_state');
      }
    }

    const oldRole = roleOf(node);
    for (const f of FLAGS) {
      if (want[f] === false && node[f] === false) {
        await logInfo(ctx, `Ignoring request to unset flag ${f}, already unset`);
        want[f] = null;
      }
    }
    if (supportsOob(cfg, node)) {
      // Ganeti tracks the power state an OOB program reports; rapid runs no OOB programs.
      if (op.powered !== null) throw new OpPrereqError(`rapid has no out-of-band power management; the powered state of node ${node.name} cannot be changed`, 'wrong_state');
    } else if (op.powered !== null) {
      throw new OpPrereqError(`Unable to change powered state for node ${node.name} as it does not support out-of-band handling`, 'wrong_state');
    }
    if (want.drained === false || want.offline === false || (op.master_capable && !node.master_capable)) {
      // _DecideSelfPromotion: the pool counts this node as eligible again.
      const { now, should } = candidateStats(cfg.nodes.values(), poolSize);
      if (now < Math.min(should + 1, poolSize)) {
        want.master_candidate = true;
        await logInfo(ctx, 'Auto-promoting node to master candidate');
      }
    }
    if (op.master_capable === false && node.master_candidate) {
      if (isMaster) throw new OpPrereqError('Master must remain master capable', 'wrong_state');
      await logInfo(ctx, 'Demoting from master candidate');
      want.master_candidate = false;
    }

    let newRole: Role;
    if (want.master_candidate) newRole = 'candidate';
    else if (want.drained) newRole = 'drained';
    else if (want.offline) newRole = 'offline';
    else if (FLAGS.some((f) => want[f] === false)) newRole = 'regular';
    else newRole = oldRole;

    if (oldRole === 'offline' && newRole !== oldRole) {
      if (!cfg.liveRuntime(node.uuid)) {
        throw new OpPrereqError(`Node ${node.name} is being de-offlined but fails to report its version: its node worker sends no heartbeat`, 'wrong_state');
      }
      await logWarning(ctx, 'Transitioning node from offline to online state without using re-add. Please make sure the node is healthy!');
    }

    if (secondaryIp) {
      const master = cfg.nodes.get(cfg.cluster.master_node)!;
      const singleHomed = master.secondary_ip === master.primary_ip;
      if (singleHomed && secondaryIp !== node.primary_ip) {
        if (op.force && isMaster) {
          await logWarning(ctx, 'Transitioning from single-homed to multi-homed cluster; all nodes will require a secondary IP address');
        } else {
          throw new OpPrereqError('Changing the secondary ip on a single-homed cluster requires the --force option to be passed, and the target node to be the master', 'wrong_input');
        }
      } else if (!singleHomed && secondaryIp === node.primary_ip) {
        if (op.force && isMaster) {
          await logWarning(ctx, 'Transitioning from multi-homed to single-homed cluster; secondary IP addresses will have to be removed');
        } else {
          throw new OpPrereqError('Cannot set the secondary IP to be the same as the primary IP on a multi-homed cluster, unless the --force option is passed, and the target node is the master', 'wrong_input');
        }
      }
      // Only DRBD disks use the secondary network, and rapid has none, so no
      // instance is affected. rapid has no node daemon port to TCP-ping either.
      if (!node.offline) await checkNodeHasIp(ctx, node, secondaryIp);
    }

    const updated: Node = { ...node };
    const result: [string, string][] = [];
    const ndparams = op.ndparams as Params | null;
    if (ndparams && Object.keys(ndparams).length) {
      updated.ndparams = forceDictType(updatedParams(node.ndparams, ndparams), NDS_PARAMETER_TYPES);
      const globals = NDC_GLOBALS.filter((k) => k in ndparams);
      if (globals.length) {
        throw new OpPrereqError(`The following node parameters are global and cannot be customized at node level, please modify them at cluster or group level: ${commaJoin(globals)}`, 'wrong_input');
      }
    }
    for (const attr of ['master_capable', 'vm_capable'] as const) {
      if (op[attr] !== null) {
        updated[attr] = op[attr] as boolean;
        result.push([attr, pyStr(op[attr])]);
      }
    }
    if (secondaryIp) {
      updated.secondary_ip = secondaryIp;
      result.push(['secondary_ip', secondaryIp]);
    }
    if (newRole !== oldRole) {
      const next = ROLE_FLAGS[newRole];
      FLAGS.forEach((f, i) => {
        if (node[f] !== next[i]) result.push([f, pyStr(next[i])]);
        updated[f] = next[i];
      });
    }
    const adjustPool = lockAll && newRole !== oldRole;
    const others = cfg.all('node').filter((n) => n.uuid !== node.uuid);
    const promoted = adjustPool ? candidatePromotions([...others, updated], poolSize, [node.uuid]) : [];
    return { updated, promoted, result, adjustPool };
  },
  async exec({ updated, promoted, result, adjustPool }, _op, ctx) {
    await ctx.cfg.commit([updated, ...promoted].map((obj) => ({ kind: 'node' as const, obj })));
    if (adjustPool) await reportCandidatePool(ctx, promoted, ctx.cfg.cluster.candidate_pool_size, [updated.uuid]);
    return result;
  },
});

// ---------------------------------------------------------------------------
// OP_NODE_POWERCYCLE

export const OP_NODE_POWERCYCLE = define<Node>({
  // A last-resort operation: Ganeti takes no locks so it never waits.
  locks: () => [],
  prereq(op, { cfg }) {
    const node = expandNode(cfg, op.node_name, op.node_uuid);
    if (node.uuid === cfg.cluster.master_node && !op.force) {
      throw new OpPrereqError('The node is the master and the force parameter was not set', 'wrong_input');
    }
    return node;
  },
  async exec(node, _op, ctx) {
    const fail = (why: string) => new OpExecError(`Failed to schedule the reboot: ${why}`);
    if (node.offline) throw fail('Node is marked offline');
    if (!ctx.cfg.liveRuntime(node.uuid)) throw fail(`Node ${node.name} is not responding (its node worker sends no heartbeat)`);
    try {
      return await ctx.node(node.name, STEP.powercycle, {}, 30_000);
    } catch (err) {
      throw fail((err as Error).message);
    }
  },
});

// ---------------------------------------------------------------------------
// OP_NODE_EVACUATE and OP_NODE_MIGRATE answer with jobs that move each
// instance (ResultWithJobs).

const primaryInstances = (cfg: Snapshot, node: Node): Instance[] =>
  sortByName([...cfg.instances.values()].filter((i) => i.primary_node === node.uuid));
const secondaryInstances = (cfg: Snapshot, node: Node): Instance[] =>
  sortByName([...cfg.instances.values()].filter((i) => i.secondary_nodes.includes(node.uuid)));

function sortByName<T extends { name: string }>(objs: T[]): T[] {
  const byName = new Map(objs.map((o) => [o.name, o]));
  return niceSort(byName.keys()).map((n) => byName.get(n)!);
}

interface MigratePlan { instances: Instance[] }

export const OP_NODE_MIGRATE = define<MigratePlan>({
  locks: (op) => [BGL_SHARED, nodeLock(op.node_name, true)],
  prereq(op, { cfg }) {
    return { instances: primaryInstances(cfg, expandNode(cfg, op.node_name, op.node_uuid)) };
  },
  exec({ instances }, op, ctx) {
    const jobs = instances.map((inst) => [fillOpcode('OP_INSTANCE_MIGRATE', null, {
      instance_name: inst.name, mode: op.mode, live: op.live, iallocator: op.iallocator, target_node: op.target_node,
      allow_runtime_changes: op.allow_runtime_changes, ignore_ipolicy: op.ignore_ipolicy,
    })]);
    return submitChildJobs(ctx, op, jobs);
  },
});

/** The iallocators rapid has built in (Ganeti finds scripts in IALLOCATOR_SEARCH_PATH). */
export const IALLOCATORS = ['hail'];

/** cmdlib.common.CheckIAllocatorOrNode: the iallocator to use, or null when a node was given. */
function iallocatorOrNode(cfg: Snapshot, iallocator: unknown, node: unknown): string | null {
  if (node !== null && node !== undefined && iallocator !== null && iallocator !== undefined) {
    throw new OpPrereqError('Do not specify both, iallocator and node', 'wrong_input');
  }
  if ((node === null || node === undefined) && (iallocator === null || iallocator === undefined || iallocator === '.')) {
    if (cfg.cluster.default_iallocator) return cfg.cluster.default_iallocator;
    throw new OpPrereqError('No iallocator or node given and no cluster-wide default iallocator found; please specify either an iallocator or a node, or set a cluster-wide default iallocator', 'wrong_input');
  }
  return (iallocator as string | null) ?? null;
}

/** A node evacuation as an iallocator answers it (moved, failed, jobs). */
interface EvacSolution {
  moved: [string, string[]][];
  failed: [string, string][];
  jobs: Opcode[][];
}

/** Disk templates whose data any node can reach (htools MirrorExternal). */
const EXTERNAL_MIRROR = ['blockdev', 'diskless', 'ext', 'gluster', 'rbd', 'sharedfile'];

/**
 * hail's node evacuation (HTools/Cluster/Evacuate.hs): shared-storage
 * instances move to the usable node of their group that keeps most memory
 * free, DRBD secondaries move likewise, local storage cannot move.
 */
function hailNodeEvac(cfg: Snapshot, evacuated: Node, mode: 'primary-only' | 'secondary-only', instances: Instance[]): EvacSolution {
  const sol: EvacSolution = { moved: [], failed: [], jobs: [] };
  // htools sees offline, drained and non-vm-capable nodes as offline; a node
  // whose worker is silent cannot report its resources either.
  const usable = sortByName(cfg.all('node').filter((n) =>
    n.uuid !== evacuated.uuid && !n.offline && !n.drained && n.vm_capable && cfg.liveRuntime(n.uuid)));
  const free = new Map(usable.map((n) => [n.uuid, cfg.liveRuntime(n.uuid)?.mfree ?? 0]));
  for (const inst of instances) {
    const dt = inst.disk_template;
    if (dt === 'plain' || dt === 'file') { sol.failed.push([inst.name, `Instances of type ${dt} cannot be relocated`]); continue; }
    const internal = dt === 'drbd';
    if (!internal && !EXTERNAL_MIRROR.includes(dt)) { sol.failed.push([inst.name, "Can't relocate/evacuate non-mirrored instances"]); continue; }
    if (mode === 'secondary-only' && !internal) {
      sol.failed.push([inst.name, `Instances with disk template '${dt}' can't execute change secondary`]);
      continue;
    }
    if (mode === 'primary-only' && internal) {
      sol.moved.push([inst.name, [...inst.secondary_nodes, inst.primary_node].map((u) => nodeName(cfg, u))]);
      sol.jobs.push([hailMove(inst, null)]);
      continue;
    }
    const group = cfg.nodes.get(inst.primary_node)?.group;
    const needMem = !internal && inst.admin_state === 'up' ? Number(filledBeParams(cfg.cluster, inst).maxmem) : 0;
    let best: Node | undefined;
    let why = '';
    for (const n of usable) {
      if (n.group !== group || n.uuid === inst.primary_node || inst.secondary_nodes.includes(n.uuid)) continue;
      if (free.get(n.uuid)! - needMem < 0) { why += ` Node ${n.name} failed: FailMem;`; continue; }
      if (!best || free.get(n.uuid)! > free.get(best.uuid)!) best = n;
    }
    if (!best) { sol.failed.push([inst.name, `Can't find any good node:${why}`]); continue; }
    free.set(best.uuid, free.get(best.uuid)! - needMem);
    sol.moved.push([inst.name, internal ? [nodeName(cfg, inst.primary_node), best.name] : [best.name]]);
    sol.jobs.push([internal ? replaceSecondary(inst, best.name) : hailMove(inst, best.name)]);
  }
  return sol;
}

/** iMoveToJob's failover move: a migration that may fall back to failover (a failover for forthcoming instances). */
function hailMove(inst: Instance, target: string | null): Opcode {
  if (inst.forthcoming) {
    return fillOpcode('OP_INSTANCE_FAILOVER', null, { instance_name: inst.name, target_node: target, shutdown_timeout: 120 });
  }
  return fillOpcode('OP_INSTANCE_MIGRATE', null, {
    instance_name: inst.name, target_node: target, allow_runtime_changes: false, allow_failover: true, ignore_hvversions: true,
  });
}

const replaceSecondary = (inst: Instance, remote: string): Opcode =>
  fillOpcode('OP_INSTANCE_REPLACE_DISKS', null, { instance_name: inst.name, mode: 'replace_new_secondary', disks: [], remote_node: remote });

interface EvacPlan {
  node: Node;
  mode: 'primary-only' | 'secondary-only';
  iallocator: string | null;
  remote: Node | null;
  instances: Instance[];
}

export const OP_NODE_EVACUATE = define<EvacPlan>({
  locks: (op) => [BGL_SHARED, nodeLock(op.node_name, true), ...(op.remote_node ? [nodeLock(op.remote_node, true)] : [])],
  async prereq(op, ctx) {
    const { cfg } = ctx;
    const iallocator = iallocatorOrNode(cfg, op.iallocator, op.remote_node);
    const node = expandNode(cfg, op.node_name, op.node_uuid);
    let remote: Node | null = null;
    if (op.remote_node !== null) {
      remote = expandNode(cfg, op.remote_node, op.remote_node_uuid);
      if (remote.uuid === node.uuid) throw new OpPrereqError('Can not use evacuated node as a new secondary node', 'wrong_input');
      if (op.mode !== 'secondary-only') {
        throw new OpPrereqError('Without the use of an iallocator only secondary instances can be evacuated', 'wrong_input');
      }
    }
    if (op.mode === 'all') {
      throw new OpPrereqError('Due to an issue with the iallocator interface it is not possible to evacuate all instances at once; specify explicitly whether to evacuate primary or secondary instances', 'wrong_input');
    }
    const mode = op.mode as EvacPlan['mode'];
    const instances = mode === 'primary-only' ? primaryInstances(cfg, node) : secondaryInstances(cfg, node);
    if (instances.length) {
      await logInfo(ctx, `Evacuating instances from node '${node.name}': ${commaJoin(instances.map((i) => i.name))}`);
    } else {
      await logInfo(ctx, `No instances to evacuate from node '${node.name}'`);
    }
    if (remote) {
      for (const inst of instances) {
        if (inst.primary_node === remote.uuid) {
          throw new OpPrereqError(`Node ${remote.name} is the primary node of instance ${inst.name}, cannot use it as secondary`, 'wrong_input');
        }
      }
    }
    return { node, mode, iallocator, remote, instances };
  },
  async exec({ node, mode, iallocator, remote, instances }, op, ctx) {
    let jobs: Opcode[][] = [];
    if (instances.length && iallocator !== null) {
      if (!IALLOCATORS.includes(iallocator)) {
        throw new OpExecError(`Failure while running the iallocator script: iallocator module '${iallocator}' not found in the search path`);
      }
      const sol = hailNodeEvac(ctx.cfg, node, mode, instances);
      // cmdlib.common.LoadNodeEvacResult
      if (sol.failed.length) {
        const reason = commaJoin(sol.failed.map(([name, why]) => `${name} (${why})`));
        await logWarning(ctx, `Unable to evacuate instances ${reason}`);
        throw new OpExecError(`Unable to evacuate instances ${reason}`);
      }
      if (sol.moved.length) {
        await logInfo(ctx, `Instances to be moved: ${commaJoin(sol.moved.map(([name, to]) => `${name} (to ${commaJoin(to)})`))}`);
      }
      jobs = sol.jobs;
    } else if (instances.length && remote) {
      jobs = instances.map((inst) => [replaceSecondary(inst, remote.name)]);
    }
    // _SetOpEarlyRelease: only the opcodes that have the parameter get it.
    jobs = jobs.map((ops) => ops.map((o) => ('early_release' in o ? { ...o, early_release: op.early_release } : o)));
    return submitChildJobs(ctx, op, jobs);
  },
});

// ---------------------------------------------------------------------------
// Storage units (LUNodeQueryStorage, LUNodeModifyStorage, LURepairNodeStorage).

const VALID_STORAGE_FIELDS = ['name', 'size', 'used', 'free', 'allocatable', 'type', 'node'];
/** STS_REPORT_NODE_STORAGE, sorted (Ganeti joins a frozenset). */
const REPORTING_STORAGE_TYPES = ['file', 'gluster', 'lvm-pv', 'lvm-vg', 'sharedfile'];
/** MAP_DISK_TEMPLATE_STORAGE_TYPE. */
const TEMPLATE_STORAGE_TYPE: Record<string, string> = {
  // rapid's drbd keeps its replicas in files (Ganeti's are LVM volumes).
  blockdev: 'blockdev', diskless: 'diskless', drbd: 'file', ext: 'ext', file: 'file', gluster: 'gluster',
  plain: 'lvm-vg', rbd: 'rados', sharedfile: 'sharedfile',
};
/** MODIFIABLE_STORAGE_FIELDS and VALID_STORAGE_OPERATIONS: only LVM storage is modifiable or repairable. */
const MODIFIABLE_STORAGE_FIELDS: Record<string, string[]> = { 'lvm-pv': ['allocatable'] };
const REPAIRABLE_STORAGE_TYPES = ['lvm-vg'];

/** cmdlib.common.CheckStorageTypeEnabled (raised without an error code). */
function checkStorageTypeEnabled(cfg: Snapshot, type: string): void {
  if (type === 'lvm-pv') return checkStorageTypeEnabled(cfg, 'lvm-vg');
  const enabled = cfg.cluster.enabled_disk_templates;
  if (enabled.some((dt) => TEMPLATE_STORAGE_TYPE[dt] === type)) return;
  throw new OpPrereqError(`No disk template of storage type '${type}' is enabled in this cluster. Enabled disk templates are: ${enabled.join(',')}`);
}

interface StoragePlan { nodes: Node[]; type: string }

export const OP_NODE_QUERY_STORAGE = define<StoragePlan>({
  locks: (op, cfg) => [BGL_SHARED, ...((op.nodes as string[]).length ? (op.nodes as string[]) : cfg.all('node').map((n) => n.name)).map((n) => nodeLock(n, true))],
  prereq(op, { cfg }) {
    const fields = op.output_fields as string[];
    const unknown = fields.filter((f) => !VALID_STORAGE_FIELDS.includes(f));
    if (unknown.length) throw new OpPrereqError(`Unknown output fields selected: ${unknown.join(',')}`, 'wrong_input');
    const names = op.nodes as string[];
    const nodes = names.length ? names.map((n) => expandNode(cfg, n, null)) : cfg.all('node');
    let type = op.storage_type as string | null;
    if (type) {
      checkStorageTypeEnabled(cfg, type);
    } else {
      type = TEMPLATE_STORAGE_TYPE[cfg.cluster.enabled_disk_templates[0]];
      if (!REPORTING_STORAGE_TYPES.includes(type)) {
        throw new OpPrereqError(`Storage reporting for storage type '${type}' is not supported. Please use the --storage-type option to specify one of the supported storage types (${commaJoin(REPORTING_STORAGE_TYPES)}) or set the default disk template to one that supports storage reporting.`);
      }
    }
    return { nodes: sortByName(nodes), type };
  },
  async exec({ nodes, type }, op, ctx) {
    const wanted = op.output_fields as string[];
    // The node is asked for the name (to sort by) and never for node or type, which only the LU knows.
    const asked = [...(wanted.includes('name') ? [] : ['name']), ...wanted].filter((f) => f !== 'node' && f !== 'type');
    const out: unknown[][] = [];
    for (const node of nodes) {
      if (node.offline) continue;
      let rows: unknown[][];
      try {
        if (!ctx.cfg.liveRuntime(node.uuid)) throw new Error(`Node ${node.name} is not responding (its node worker sends no heartbeat)`);
        rows = (await ctx.node(node.name, STEP.storageList, { type, name: op.name ?? null, fields: asked }, 60_000)) as unknown[][];
      } catch (err) {
        await logWarning(ctx, `Can't get storage data from node ${node.name}: ${(err as Error).message}`);
        continue;
      }
      const byName = new Map(rows.map((row) => [String(row[asked.indexOf('name')]), row]));
      for (const name of niceSort(byName.keys())) {
        const row = byName.get(name)!;
        out.push(wanted.map((f) => (f === 'node' ? node.name : f === 'type' ? type : row[asked.indexOf(f)])));
      }
    }
    return out;
  },
});

interface StorageUnitPlan { node: Node; type: string; name: string | null }

/** The checks LUNodeModifyStorage / LURepairNodeStorage make before any node is asked. */
function storageUnit(op: Opcode, cfg: Snapshot, allowed: boolean, verb: string): StorageUnitPlan {
  const node = expandNode(cfg, op.node_name, op.node_uuid);
  const type = String(op.storage_type);
  if (!allowed) throw new OpPrereqError(`Storage units of type '${type}' can not be ${verb}`, 'wrong_input');
  return { node, type, name: (op.name as string | null) ?? null };
}

export const OP_NODE_MODIFY_STORAGE = define<StorageUnitPlan>({
  locks: (op) => [BGL_SHARED, nodeLock(op.node_name, false)],
  prereq(op, { cfg }) {
    const type = String(op.storage_type);
    const plan = storageUnit(op, cfg, type in MODIFIABLE_STORAGE_FIELDS, 'modified');
    const diff = Object.keys(op.changes as Params).filter((k) => !MODIFIABLE_STORAGE_FIELDS[type].includes(k));
    if (diff.length) {
      throw new OpPrereqError(`The following fields can not be modified for storage units of type '${type}': [${diff.map((k) => `'${k}'`).join(', ')}]`, 'wrong_input');
    }
    checkStorageTypeEnabled(cfg, type);
    return plan;
  },
  // Only LVM physical volumes are modifiable, and no LVM template can be
  // enabled on a rapid cluster, so the checks above always refuse first.
  exec({ node, name }) {
    throw new OpExecError(`Failed to modify storage unit '${name}' on ${node.name}: rapid nodes have no LVM storage`);
  },
});

export const OP_REPAIR_NODE_STORAGE = define<StorageUnitPlan>({
  locks: (op) => [BGL_SHARED, nodeLock(op.node_name, false)],
  prereq(op, { cfg }) {
    const plan = storageUnit(op, cfg, REPAIRABLE_STORAGE_TYPES.includes(String(op.storage_type)), 'repaired');
    checkStorageTypeEnabled(cfg, plan.type);
    return plan;
  },
  // As above: only LVM volume groups are repairable, and rapid has none.
  exec({ node, name }) {
    throw new OpExecError(`Failed to repair storage unit '${name}' on ${node.name}: rapid nodes have no LVM storage`);
  },
});
