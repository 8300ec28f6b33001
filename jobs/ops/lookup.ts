// Name lookups with Ganeti's error texts (cmdlib/common.py _ExpandItemName).
import { OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Instance, Node, NodeGroup, Network } from '../../src/model.ts';

export function findInstance(cfg: ConfigStore, name: unknown): Instance {
  const inst = typeof name === 'string' ? cfg.byName('instance', name) : undefined;
  if (!inst) throw new OpPrereqError(`Instance '${name}' not known`, 'unknown_entity');
  return inst;
}

export function findNode(cfg: ConfigStore, name: unknown): Node {
  const node = typeof name === 'string' ? cfg.byName('node', name) : undefined;
  if (!node) throw new OpPrereqError(`Node '${name}' not known`, 'unknown_entity');
  return node;
}

export function findGroup(cfg: ConfigStore, name: unknown): NodeGroup {
  const g = typeof name === 'string' ? (cfg.byName('nodegroup', name) ?? cfg.groups.get(name)) : undefined;
  if (!g) throw new OpPrereqError(`Group '${name}' not found`, 'unknown_entity');
  return g;
}

export function findNetwork(cfg: ConfigStore, name: unknown): Network {
  const n = typeof name === 'string' ? (cfg.byName('network', name) ?? cfg.networks.get(name)) : undefined;
  if (!n) throw new OpPrereqError(`Network '${name}' not found`, 'unknown_entity');
  return n;
}

/** A node step needs the node's worker alive and the node not offline. */
export function requireNodeUp(cfg: ConfigStore, node: Node): void {
  if (node.offline) throw new OpPrereqError(`Node ${node.name} is offline`, 'wrong_state');
  if (!cfg.liveRuntime(node.uuid)) {
    throw new OpPrereqError(`Node ${node.name} is not responding (its node worker sends no heartbeat)`, 'environment_error');
  }
}
