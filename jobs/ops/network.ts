// Network opcodes (cmdlib/network.py): add, remove, modify, and connect to or
// disconnect from node groups. Address pools are in network-ipam.ts.
import { randomUUID } from 'node:crypto';
import { AddressPoolError, OpExecError, OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { Instance, Network, NodeGroup, Params } from '../../src/model.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import { niceSort } from '../../src/nicesort.ts';
import { define, type OpContext } from './context.ts';
import { logInfo, logWarning } from './feedback.ts';
import { findGroup, findNetwork } from './lookup.ts';
import { AddressPool } from './network-ipam.ts';
import { validateTag } from './tags.ts';
import { BGL_SHARED, groupLock } from './lock-requests.ts';

const networkLock = (op: Opcode, shared = false): LockRequest => ({ level: 'network', name: String(op.network_name), shared });

/** constants.VALUE_NONE: clears an optional network attribute. */
const VALUE_NONE = 'none';

/** utils.NormalizeAndValidateThreeOctetMacPrefix. */
export function normalizeMacPrefix(prefix: string): string {
  if (!/^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/i.test(prefix)) {
    throw new OpPrereqError(`Invalid MAC address prefix '${prefix}'`, 'wrong_input');
  }
  return prefix.toLowerCase();
}

/** Instances with a node in the group (config.GetNodeGroupInstances), in name order. */
export function groupInstances(cfg: Snapshot, groupUuid: string): Instance[] {
  const inGroup = (uuid: string) => cfg.nodes.get(uuid)?.group === groupUuid;
  const list = [...cfg.instances.values()].filter((i) => [i.primary_node, ...i.secondary_nodes].some(inGroup));
  const byName = new Map(list.map((i) => [i.name, i]));
  return niceSort(byName.keys()).map((n) => byName.get(n)!);
}

// ---------------------------------------------------------------------------

export const OP_NETWORK_ADD = define<Network>({
  locks: (op) => [BGL_SHARED, networkLock(op)],
  prereq(op, { cfg }) {
    const name = String(op.network_name);
    const macPrefix = op.mac_prefix ? normalizeMacPrefix(String(op.mac_prefix)) : null;
    const existing = cfg.byName('network', name);
    if (existing) {
      throw new OpPrereqError(`Desired network name '${name}' already exists as a network (UUID: ${existing.uuid})`, 'already_exists');
    }
    for (const tag of op.tags as unknown[]) validateTag(tag);
    const now = Date.now() / 1000;
    return {
      uuid: randomUUID(), ctime: now, mtime: now, serial_no: 1, tags: [...new Set(op.tags as string[])],
      name, network: String(op.network),
      gateway: (op.gateway as string | null) ?? null,
      network6: (op.network6 as string | null) ?? null,
      gateway6: (op.gateway6 as string | null) ?? null,
      mac_prefix: macPrefix, reservations: '', ext_reservations: '',
    };
  },
  async exec(net, op, ctx) {
    let pool: AddressPool;
    try {
      pool = AddressPool.initialize(net);
    } catch (err) {
      if (!(err instanceof AddressPoolError)) throw err;
      throw new OpExecError(`Cannot create IP address pool for network '${net.name}': ${err.message}`);
    }
    // Node addresses cannot serve instances in routed mode. (Ganeti also
    // reserves the cluster's master IP; rapid's cluster has none.)
    if (op.conflicts_check) {
      const nodes = new Map(ctx.cfg.all('node').map((n) => [n.name, n]));
      for (const node of niceSort(nodes.keys()).map((n) => nodes.get(n)!)) {
        for (const ip of [node.primary_ip, node.secondary_ip]) {
          try {
            if (!pool.contains(ip)) continue;
            pool.reserve(ip, true);
            await logInfo(ctx, `Reserved IP address of node '${node.name}' (${ip})`);
          } catch (err) {
            if (!(err instanceof AddressPoolError)) throw err;
            await logWarning(ctx, `Cannot reserve IP address '${ip}' of node '${node.name}': ${err.message}`);
          }
        }
      }
    }
    for (const ip of (op.add_reserved_ips as string[] | null) ?? []) {
      try {
        pool.reserve(ip, true);
      } catch (err) {
        if (!(err instanceof AddressPoolError)) throw err;
        throw new OpExecError(`Cannot reserve IP address '${ip}': ${err.message}`);
      }
    }
    await ctx.cfg.commit([{ kind: 'network', obj: pool.network(), isNew: true }]);
    return null;
  },
});

export const OP_NETWORK_REMOVE = define<Network>({
  // Connect takes the network lock shared, so no group can gain a link to it meanwhile.
  locks: (op) => [BGL_SHARED, networkLock(op)],
  async prereq(op, ctx) {
    const { cfg } = ctx;
    const net = findNetwork(cfg, op.network_name);
    const groups = cfg.all('nodegroup').filter((g) => Object.hasOwn(g.networks, net.uuid)).map((g) => g.name);
    if (groups.length) {
      await logWarning(ctx, `Network '${op.network_name}' is connected to the following node groups: ${niceSort(groups).join(', ')}`);
      throw new OpPrereqError('Network still connected', 'wrong_state');
    }
    // Ganeti relies on disconnect refusing while NICs use the network; in
    // rapid (as in Ganeti) a node moved to another group can leave NICs on a
    // network no group of theirs is connected to, so check the NICs as well.
    const users = cfg.all('instance').filter((i) => i.nics.some((n) => n.network === net.uuid)).map((i) => i.name);
    if (users.length) {
      await logWarning(ctx, `Network '${op.network_name}' is used by the following instances: ${niceSort(users).join(', ')}`);
      throw new OpPrereqError('Network still in use', 'wrong_state');
    }
    return net;
  },
  async exec(net, _op, ctx) {
    await ctx.cfg.commit([], [{ kind: 'network', obj: net }]);
    return null;
  },
});

interface SetParamsPlan {
  net: Network;
  gateway: string | null;
  macPrefix: string | null;
  network6: string | null;
  gateway6: string | null;
}

/** An optional attribute as the opcode sets it: unchanged when not given, cleared by "none". */
const optional = (value: unknown, current: string | null): string | null =>
  !value ? current : value === VALUE_NONE ? null : String(value);

export const OP_NETWORK_SET_PARAMS = define<SetParamsPlan>({
  locks: (op) => [BGL_SHARED, networkLock(op)],
  prereq(op, { cfg }) {
    const adds = op.add_reserved_ips as string[] | null;
    const removes = op.remove_reserved_ips as string[] | null;
    if (op.gateway && (adds?.length || removes?.length)) {
      throw new OpPrereqError('Cannot modify gateway and reserved ips at once', 'wrong_input');
    }
    const net = findNetwork(cfg, op.network_name);
    const pool = new AddressPool(net);
    const gateway = optional(op.gateway, net.gateway);
    // As Ganeti, only the instances' map is consulted here; an externally
    // reserved address fails when it is reserved in exec.
    if (op.gateway && gateway !== null && pool.isReserved(gateway)) {
      throw new OpPrereqError(`Gateway IP address '${gateway}' is already reserved`, 'wrong_state');
    }
    let macPrefix = net.mac_prefix;
    if (op.mac_prefix) macPrefix = op.mac_prefix === VALUE_NONE ? null : normalizeMacPrefix(String(op.mac_prefix));
    return { net, gateway, macPrefix, network6: optional(op.network6, net.network6), gateway6: optional(op.gateway6, net.gateway6) };
  },
  async exec(plan, op, ctx) {
    const { net } = plan;
    const pool = new AddressPool(net);
    let gateway = net.gateway;
    if (op.gateway) {
      if (plan.gateway === net.gateway) {
        await logWarning(ctx, `Gateway is already ${plan.gateway}`);
      } else {
        if (plan.gateway !== null) pool.reserve(plan.gateway, true);
        if (net.gateway !== null) pool.release(net.gateway, true);
        gateway = plan.gateway;
      }
    }
    for (const ip of (op.add_reserved_ips as string[] | null) ?? []) {
      try {
        pool.reserve(ip, true);
      } catch (err) {
        if (!(err instanceof AddressPoolError)) throw err;
        await logWarning(ctx, `Cannot reserve IP address ${ip}: ${err.message}`);
      }
    }
    for (const ip of (op.remove_reserved_ips as string[] | null) ?? []) {
      if (ip === net.gateway) {
        await logWarning(ctx, "Cannot unreserve Gateway's IP");
        continue;
      }
      try {
        pool.release(ip, true);
      } catch (err) {
        if (!(err instanceof AddressPoolError)) throw err;
        await logWarning(ctx, `Cannot release IP address ${ip}: ${err.message}`);
      }
    }
    const updated: Network = {
      ...pool.network(), gateway,
      mac_prefix: op.mac_prefix ? plan.macPrefix : net.mac_prefix,
      network6: plan.network6, gateway6: plan.gateway6,
    };
    await ctx.cfg.commit([{ kind: 'network', obj: updated }]);
    return null;
  },
});

// ---------------------------------------------------------------------------
// Connections to node groups.

/** The group's instances, locked shared so no NIC changes under the check. */
function connectionLocks(op: Opcode, cfg: ConfigStore): LockRequest[] {
  const locks = [BGL_SHARED, groupLock(op.group_name), networkLock(op, true)];
  const group = typeof op.group_name === 'string' ? cfg.byName('nodegroup', op.group_name) : undefined;
  if (group) for (const inst of groupInstances(cfg, group.uuid)) locks.push({ level: 'instance', name: inst.name, shared: true });
  return locks;
}

interface ConnectionPlan { net: Network; group: NodeGroup; change: boolean; netparams: Params }

/** cmdlib/network.py _NetworkConflictCheck: NICs of the group's instances that `conflicts` picks. */
async function conflictCheck(ctx: OpContext, plan: { net: Network; group: NodeGroup }, action: string,
  conflicts: (nic: Instance['nics'][number]) => boolean): Promise<void> {
  const found: string[] = [];
  for (const inst of groupInstances(ctx.cfg, plan.group.uuid)) {
    const nics = inst.nics.flatMap((nic, idx) => (conflicts(nic) ? [`nic${idx}/${nic.ip}`] : []));
    if (nics.length) found.push(`${inst.name}: ${nics.join(', ')}`);
  }
  if (!found.length) return;
  await logWarning(ctx, `IP addresses from network '${plan.net.name}', which is about to ${action} node group '${plan.group.name}', are in use: ${found.join(', ')}`);
  // Ganeti's text, double space included.
  throw new OpPrereqError('Conflicting IP addresses found;  remove/modify the corresponding network interfaces', 'wrong_state');
}

/** The group as prereq read it: a concurrent change makes the commit conflict and prereq run again. */
async function commitNetworks(ctx: OpContext, group: NodeGroup, networks: NodeGroup['networks']): Promise<void> {
  await ctx.cfg.commit([{ kind: 'nodegroup', obj: { ...group, networks } }]);
}

export const OP_NETWORK_CONNECT = define<ConnectionPlan>({
  locks: connectionLocks,
  async prereq(op, ctx) {
    const net = findNetwork(ctx.cfg, op.network_name);
    const group = findGroup(ctx.cfg, op.group_name);
    const netparams = { mode: op.network_mode, link: op.network_link, vlan: op.network_vlan };
    if (Object.hasOwn(group.networks, net.uuid)) {
      await logWarning(ctx, `Network '${op.network_name}' is already mapped to group '${group.name}'`);
      return { net, group, change: false, netparams };
    }
    if (op.conflicts_check) {
      const pool = new AddressPool(net);
      await conflictCheck(ctx, { net, group }, 'connect to', (nic) => pool.contains(nic.ip));
    }
    return { net, group, change: true, netparams };
  },
  async exec({ net, group, change, netparams }, _op, ctx) {
    if (change) await commitNetworks(ctx, group, { ...group.networks, [net.uuid]: netparams });
    return null;
  },
});

export const OP_NETWORK_DISCONNECT = define<ConnectionPlan>({
  locks: connectionLocks,
  async prereq(op, ctx) {
    const net = findNetwork(ctx.cfg, op.network_name);
    const group = findGroup(ctx.cfg, op.group_name);
    if (!Object.hasOwn(group.networks, net.uuid)) {
      await logWarning(ctx, `Network '${op.network_name}' is not mapped to group '${group.name}'`);
      return { net, group, change: false, netparams: {} };
    }
    await conflictCheck(ctx, { net, group }, 'disconnect from', (nic) => nic.network === net.uuid);
    return { net, group, change: true, netparams: group.networks[net.uuid] };
  },
  async exec({ net, group, change }, _op, ctx) {
    if (!change) return null;
    const { [net.uuid]: _gone, ...rest } = group.networks;
    await commitNetworks(ctx, group, rest);
    return null;
  },
});
