// OP_INSTANCE_MULTI_ALLOC (cmdlib/instance.py LUInstanceMultiAlloc): place
// several new instances at once, then create each in a job of its own.
import { OpPrereqError } from '../errors.ts';
import type { Cluster, Node } from '../../src/model.ts';
import { filledBeParams } from '../../src/fill.ts';
import { BES_PARAMETER_TYPES, forceDictType, upgradeBeParams } from '../params.ts';
import type { Opcode } from '../opcodes.ts';
import { define } from './context.ts';
import { findNode } from './lookup.ts';
import { BGL_SHARED } from './lock-requests.ts';
import { pickNode } from './instance-disks.ts';
import { submitChildJobs } from './child-jobs.ts';

interface Plan {
  /** Each creation opcode with its nodes filled in, for the instances that could be placed. */
  placed: Opcode[];
  failed: string[];
}

/** ComputeFullBeParams: the memory an instance will ask for ("auto" takes the cluster's value). */
function maxMemory(op: Opcode, cluster: Cluster): number {
  const defaults = cluster.beparams.default;
  const be = Object.fromEntries(Object.entries((op.beparams as Record<string, unknown>) ?? {})
    .map(([k, v]) => [k, v === 'auto' ? defaults[k] : v]));
  return Number(filledBeParams(cluster, { beparams: forceDictType(upgradeBeParams(be), BES_PARAMETER_TYPES) }).maxmem);
}

const withNodes = (op: Opcode, pnode: Node, snode?: Node): Opcode =>
  ({ ...op, pnode: pnode.name, pnode_uuid: pnode.uuid, ...(snode ? { snode: snode.name, snode_uuid: snode.uuid } : {}) });

export const OP_INSTANCE_MULTI_ALLOC = define<Plan>({
  // The allocator may pick any node: all of them, shared (Ganeti's ShareAll).
  locks: (_op, cfg) => [BGL_SHARED, ...[...cfg.nodes.values()].map((n) => ({ level: 'node' as const, name: n.name, shared: true }))],
  prereq(op, ctx) {
    const { cfg } = ctx;
    const insts = op.instances as Opcode[];
    // CheckArguments.
    const given: boolean[] = [];
    for (const inst of insts) {
      if (inst.iallocator !== null) throw new OpPrereqError('iallocator are not allowed to be set on instance objects', 'wrong_input');
      given.push(Boolean(inst.pnode));
      if (inst.disk_template === 'drbd') given.push(Boolean(inst.snode));
    }
    const hasNodes = given.some(Boolean);
    if (given.every(Boolean) !== hasNodes) {
      throw new OpPrereqError('There are instance objects providing pnode/snode while others do not', 'wrong_input');
    }
    let allocator = op.iallocator as string | null;
    if (!hasNodes && allocator === null) {
      allocator = cfg.cluster.default_iallocator || null;
      if (!allocator) {
        throw new OpPrereqError('No iallocator or nodes on the instances given and no cluster-wide default iallocator found; please specify either an iallocator or nodes on the instances or set a cluster-wide default iallocator', 'wrong_input');
      }
    }
    if (op.opportunistic_locking && !allocator) {
      throw new OpPrereqError('Opportunistic locking is only available in combination with an instance allocator', 'wrong_input');
    }
    const names = insts.map((i) => String(i.instance_name));
    const dups = [...new Set(names.filter((n, k) => names.indexOf(n) !== k))];
    if (dups.length) throw new OpPrereqError(`There are duplicate instance names: ${dups.join(', ')}`, 'wrong_input');

    if (!allocator) {
      return {
        placed: insts.map((i) => withNodes(i, findNode(cfg, i.pnode), i.snode ? findNode(cfg, i.snode) : undefined)),
        failed: [],
      };
    }
    // hail's multi-allocation: one instance after the other, each on the node
    // left with most free memory; one that fits nowhere is reported, not fatal.
    const taken = new Map<string, number>();
    const placed: Opcode[] = [];
    const failed: string[] = [];
    for (const inst of insts) {
      const mem = maxMemory(inst, cfg.cluster);
      try {
        const node = pickNode(cfg, allocator, [], mem, "Can't compute nodes using iallocator", taken);
        taken.set(node.uuid, (taken.get(node.uuid) ?? 0) + mem);
        placed.push(withNodes(inst, node));
      } catch (err) {
        if (!(err instanceof OpPrereqError)) throw err;
        failed.push(String(inst.instance_name));
      }
    }
    return { placed, failed };
  },
  async exec({ placed, failed }, op, ctx) {
    const { jobs } = await submitChildJobs(ctx, op, placed.map((p) => [p]));
    return { allocatable: placed.map((p) => p.instance_name), failed, jobs };
  },
});
