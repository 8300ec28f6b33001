// Name lookups with Ganeti's error texts (cmdlib/common.py _ExpandItemName).
import { OpPrereqError } from '../errors.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { Instance, Node, NodeGroup, Network } from '../../src/model.ts';

export function findInstance(cfg: Snapshot, name: unknown): Instance {
  const inst = typeof name === 'string' ? cfg.byName('instance', name) : undefined;
  if (!inst) throw new OpPrereqError(`Instance '${name}' not known`, 'unknown_entity');
  return inst;
}

export function findNode(cfg: Snapshot, name: unknown): Node {
  const node = typeof name === 'string' ? cfg.byName('node', name) : undefined;
  if (!node) throw new OpPrereqError(`Node '${name}' not known`, 'unknown_entity');
  return node;
}

export function findGroup(cfg: Snapshot, name: unknown): NodeGroup {
  const g = typeof name === 'string' ? (cfg.byName('nodegroup', name) ?? cfg.groups.get(name)) : undefined;
  if (!g) throw new OpPrereqError(`Node group '${name}' not found`, 'unknown_entity');
  return g;
}

export function findNetwork(cfg: Snapshot, name: unknown): Network {
  const n = typeof name === 'string' ? (cfg.byName('network', name) ?? cfg.networks.get(name)) : undefined;
  if (!n) throw new OpPrereqError(`Network '${name}' not found`, 'unknown_entity');
  return n;
}

/** An instance's primary node, which a consistent configuration always has. */
export function primaryNode(cfg: Snapshot, inst: Instance): Node {
  const node = cfg.nodes.get(inst.primary_node);
  if (!node) throw new OpPrereqError(`Instance '${inst.name}' has an unknown primary node`, 'wrong_state');
  return node;
}

/** A node step needs the node's worker alive and the node not offline. */
export function requireNodeUp(cfg: Snapshot, node: Node): void {
  if (node.offline) throw new OpPrereqError(`Node ${node.name} is offline`, 'wrong_state');
  if (!cfg.liveRuntime(node.uuid)) {
    throw new OpPrereqError(`Node ${node.name} is not responding (its node worker sends no heartbeat)`, 'environment_error');
  }
}

/** cmdlib.common.ExpandNodeUuidAndName: the node, checked against the uuid the job was submitted with. */
export function expandNode(cfg: Snapshot, name: unknown, expectedUuid: unknown): Node {
  const node = findNode(cfg, name);
  if (expectedUuid !== null && expectedUuid !== undefined && node.uuid !== expectedUuid) {
    throw new OpPrereqError(`The nodes UUID '${node.uuid}' does not match the expected UUID '${expectedUuid}' for node '${node.name}'. Maybe the node changed since you submitted this job.`, 'resource_not_unique');
  }
  return node;
}
