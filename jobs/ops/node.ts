// Node membership (cmdlib/node.py LUNodeAdd, LUNodeRemove). A node worker
// that joins the cluster submits OP_NODE_ADD for itself.
import { isIPv4 } from 'node:net';
import { OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import { newNode } from '../../src/defaults.ts';
import type { Node } from '../../src/model.ts';
import type { Opcode } from '../opcodes.ts';
import { define } from './context.ts';
import { findGroup, findNode } from './lookup.ts';
import { BGL } from './lock-requests.ts';

/** Nodes promoted to master candidate while the pool is not full (Ganeti's candidate_pool_size). */
function wantsCandidate(cfg: ConfigStore): boolean {
  const candidates = cfg.all('node').filter((n) => n.master_candidate).length;
  return candidates < cfg.cluster.candidate_pool_size;
}

export const OP_NODE_ADD = define<Node>({
  locks: () => [BGL],
  prereq(op, { cfg }) {
    const name = String(op.node_name);
    const existing = cfg.byName('node', name);
    if (op.readd) {
      if (!existing) throw new OpPrereqError(`Node ${name} is not in the configuration`, 'unknown_entity');
      if (existing.uuid === cfg.cluster.master_node) throw new OpPrereqError('Cannot readd the master node', 'wrong_state');
      if (op.group) throw new OpPrereqError('Cannot pass a node group when a node is being readded', 'wrong_input');
    } else if (existing) {
      throw new OpPrereqError(`Node ${name} is already in the configuration`, 'already_exists');
    }
    const pip = (op.primary_ip as string | null) ?? '127.0.0.1';
    const sip = (op.secondary_ip as string | null) ?? pip;
    if (!isIPv4(pip)) throw new OpPrereqError(`Invalid primary ip ${pip}`, 'wrong_input');
    if (!isIPv4(sip)) throw new OpPrereqError(`Secondary IP (${sip}) needs to be a valid IPv4 address`, 'wrong_input');
    const group = op.group ? findGroup(cfg, op.group) : cfg.all('nodegroup').sort((a, b) => a.ctime - b.ctime)[0];
    const now = Date.now() / 1000;
    const node: Node = existing
      ? { ...existing, primary_ip: pip, secondary_ip: sip, offline: false, drained: false }
      : { ...newNode({ name, primaryIp: pip, secondaryIp: sip, groupUuid: group.uuid, master: false, now, masterCandidate: wantsCandidate(cfg) }) };
    if (op.master_capable !== null) node.master_capable = op.master_capable as boolean;
    if (op.vm_capable !== null) node.vm_capable = op.vm_capable as boolean;
    if (op.ndparams) node.ndparams = { ...(op.ndparams as Record<string, unknown>) };
    if (!node.master_capable) node.master_candidate = false;
    return node;
  },
  async exec(node, op, ctx) {
    await ctx.log(`Adding node ${node.name} to the cluster`);
    await ctx.cfg.commit([{ kind: 'node', obj: node, isNew: !op.readd }]);
    return null;
  },
});

export const OP_NODE_REMOVE = define<Node>({
  locks: () => [BGL],
  prereq(op: Opcode, { cfg }) {
    const node = findNode(cfg, op.node_name);
    if (node.uuid === cfg.cluster.master_node) {
      throw new OpPrereqError('Node is the master node, failover to another node is required', 'wrong_input');
    }
    for (const inst of cfg.all('instance')) {
      if (inst.primary_node === node.uuid || inst.secondary_nodes.includes(node.uuid)) {
        throw new OpPrereqError(`Instance ${inst.name} is still running on the node, please remove first`, 'wrong_input');
      }
    }
    return node;
  },
  async exec(node, _op, ctx) {
    await ctx.log(`Removing node ${node.name} from the cluster`);
    await ctx.cfg.commit([], [{ kind: 'node', obj: node }]);
    return null;
  },
});
