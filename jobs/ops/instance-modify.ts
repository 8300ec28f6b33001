// Changing an instance (cmdlib/instance_set_params.py LUInstanceSetParams,
// instance.py LUInstanceRename). Every check runs before anything changes;
// node work (new disk files, copies, ballooning) comes next, and the
// configuration is written once at the end, so a failure leaves the instance
// as it was.
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { OpExecError, OpPrereqError, ReservationError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Disk, Instance, Network, Nic, Node, Params } from '../../src/model.ts';
import { fillDict, HVC_GLOBALS } from '../../src/defaults.ts';
import { filledBeParams } from '../../src/fill.ts';
import {
  BES_PARAMETER_TYPES, HVS_PARAMETER_TYPES, IDISK_PARAMS_TYPES, INIC_PARAMS_TYPES, MODIFIABLE_IDISK_PARAMS_TYPES,
  NICS_PARAMETER_TYPES, checkNicParams, forceDictType, updatedParams, upgradeBeParams,
} from '../params.ts';
import { MAX_DISKS, MAX_NICS } from '../ht.ts';
import { pyStr } from '../py.ts';
import type { Opcode } from '../opcodes.ts';
import { STEP } from '../node-rpc.ts';
import { define, type OpContext } from './context.ts';
import { checkHvParams } from './hv-params.ts';
import { findInstance, findNetwork, findNode, primaryNode } from './lookup.ts';
import {
  AddressPool, generateFreeIp, networkWrites, nicNetworkLocks, releaseIp, reserveIp, type PendingNetworks,
} from './network-ipam.ts';
import { instanceSpec } from './instance-spec.ts';
import { checkFreeMemory, checkNameResolves, generateMac } from './instance.ts';
import { checkOsParams, osRpc } from './os.ts';
import { DRBD, allocateDrbd, drbdIds, drbdLogicalId, isDrbd } from './drbd.ts';
import {
  INSTANCE_DOWN, INSTANCE_NOT_RUNNING, assembleDisks, checkNodeNotDrained, checkNodeOnline, checkNodeVmCapable, checkState, createDisks, disksActive, fileStorageDir,
  formatUnit, instanceOpLocks, newDisk, pickNode, raiseOn, removeDisks, rpc, shutdownDisks, specWith,
  waitForSync, FILE_TEMPLATES,
} from './instance-disks.ts';
import { logInfo, logWarning } from './feedback.ts';

/** Conversions Ganeti refuses outright (DTS_NOT_CONVERTIBLE_FROM/TO); others need lvm or must be enabled. */
const NOT_CONVERTIBLE_FROM = new Set(['diskless']);
const NOT_CONVERTIBLE_TO = new Set(['blockdev', 'diskless']);
const NOT_LVM = new Set(['blockdev', 'diskless', 'ext', 'file', 'gluster', 'rbd', 'sharedfile']);
const DEFAULT_NODED_PORT = 1811;

type Change = [string, unknown];
type Mod = [op: string, index: number | string, params: Record<string, unknown>];

const isNone = (v: unknown) => typeof v === 'string' && v.toLowerCase() === 'none';

/** _UpgradeDiskNicMods: the legacy [op|index, params] form becomes [op, index, params]. */
function upgradeMods(kind: string, mods: unknown[]): Mod[] {
  if (!mods.length || (mods[0] as unknown[]).length === 3) return mods as Mod[];
  let addRemove = 0;
  return (mods as [string | number, Record<string, unknown>][]).map(([op, params]) => {
    if (op === 'add' || op === 'attach' || op === 'remove' || op === 'detach') {
      if (++addRemove > 1) throw new OpPrereqError(`Only one ${kind} add/attach/remove/detach operation is supported at a time`, 'wrong_input');
      return [op, -1, params];
    }
    return ['modify', op, params];
  });
}

/** GetIndexFromIdentifier (add): an index, or -1 for the end. */
function addIndex(identifier: number | string, kind: string, size: number): number {
  const idx = typeof identifier === 'number' ? identifier : /^\s*[-+]?\d+\s*$/.test(identifier) ? Number(identifier) : NaN;
  if (Number.isNaN(idx)) throw new OpPrereqError('Only positive integer or -1 is accepted', 'wrong_input');
  if (idx === -1) return size;
  if (idx < 0) throw new OpExecError('Not accepting negative indices other than -1');
  if (idx > size) throw new OpExecError(`Got ${kind} index ${idx}, but there are only ${size}`);
  return idx;
}

/** GetItemFromContainer: an index (-1: the last), a name or a uuid. */
function itemIndex<T extends { uuid: string; name: string | null }>(identifier: number | string, kind: string, items: T[]): number {
  const idx = typeof identifier === 'number' ? identifier : /^\s*[-+]?\d+\s*$/.test(identifier) ? Number(identifier) : NaN;
  if (!Number.isNaN(idx)) {
    if (idx < -1) throw new OpExecError('Not accepting negative indices other than -1');
    if (idx > items.length) throw new OpExecError(`Got ${kind} index ${idx}, but there are only ${items.length}`);
    const abs = idx === -1 ? items.length - 1 : idx;
    if (abs < 0 || abs >= items.length) throw new OpExecError('list index out of range');
    return abs;
  }
  const found = items.findIndex((it) => it.uuid === identifier || it.name === identifier);
  if (found < 0) throw new OpPrereqError(`Cannot find ${kind} with identifier ${identifier}`, 'unknown_entity');
  return found;
}

/** utils.ValidateDeviceNames. */
function validateNames(kind: string, items: { uuid: string; name: string | null }[]): void {
  const seen = new Set<string>();
  for (const it of items) {
    seen.add(it.uuid);
    if (it.name !== null && /^\s*[-+]?\d+\s*$/.test(it.name)) {
      throw new OpPrereqError(`Invalid name '${it.name}'. Purely numeric ${kind} names are not allowed`, 'wrong_input');
    }
    if (it.name !== null && !isNone(it.name)) {
      if (seen.has(it.name)) throw new OpPrereqError(`${kind} name '${it.name}' already used`, 'resource_not_unique');
      seen.add(it.name);
    }
  }
}

function checkParamsNotGlobal(params: Params): void {
  const used = Object.keys(params).filter((k) => HVC_GLOBALS.includes(k));
  if (used.length) {
    throw new OpPrereqError(`The following hypervisor parameters are global and cannot be customized at instance level, please modify them at cluster level: ${used.join(', ')}`, 'wrong_input');
  }
}

// ---------------------------------------------------------------------------

interface SetParamsPlan {
  inst: Instance;
  pnode: Node;
  newPnode: Node | null;
  warnings: string[];
  hotplug: boolean;
  runtimeMem: number | null;
  diskMods: Mod[];
  /** `snode`: the new secondary of a conversion to drbd. */
  template: { from: string; to: string; snode: Node | null } | null;
  nics: Nic[] | null;
  nicChanges: Change[];
  /** Address pools the NIC changes reserve in or release to. */
  networks: PendingNetworks;
  hvInst: Params | null;
  beInst: Params | null;
  osInst: Params | null;
}

/** _VerifyNicModification (CheckArguments). */
function verifyNicMod(op: string, params: Record<string, unknown>): void {
  if (op === 'remove' || op === 'detach') {
    if (Object.keys(params).length) throw new OpPrereqError('No settings should be passed when removing or detaching a NIC', 'wrong_input');
    return;
  }
  if (op === 'attach') throw new OpPrereqError('Attach operation is not supported for NICs', 'wrong_input');
  const { ip, name, network, link, mode } = params as Record<string, string | null | undefined>;
  if (name !== undefined && name !== null && isNone(name)) params.name = null;
  let netName = network;
  if (netName !== undefined && netName !== null) {
    if (isNone(netName)) { params.network = null; netName = null; }
    else if ((link !== undefined && link !== null) || (mode !== undefined && mode !== null)) {
      throw new OpPrereqError('If network is given mode or link should not', 'wrong_input');
    }
  }
  if (op === 'add' && (params.mac === undefined || params.mac === null)) params.mac = 'auto';
  if (ip !== undefined && ip !== null) {
    if (isNone(ip)) params.ip = null;
    else if (ip.toLowerCase() === 'pool') {
      if (op === 'add' && (netName === undefined || netName === null)) throw new OpPrereqError('If ip=pool, parameter network cannot be none', 'wrong_input');
    } else if (net.isIP(ip) === 0) {
      throw new OpPrereqError(`Invalid IP address '${ip}'`, 'wrong_input');
    }
  }
  if ('mac' in params) {
    const mac = params.mac as string | null;
    if (mac !== 'auto' && mac !== 'generate' && (typeof mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac))) {
      throw new OpPrereqError(`Invalid MAC address '${mac}'`, 'wrong_input');
    }
    if (op === 'modify' && mac === 'auto') throw new OpPrereqError("'auto' is not a valid MAC address when modifying an existing NIC", 'wrong_input');
  }
}

/** What preparing NIC changes needs beyond the NIC: reservations so far, and the info lines to log. */
interface NicContext {
  cfg: ConfigStore;
  pnode: Node;
  usedMacs: Set<string>;
  /** Networks whose address pools changed, by uuid; committed with the instance. */
  pending: PendingNetworks;
  conflictsCheck: boolean;
  infos: string[];
}

const pendingNet = (n: NicContext, uuid: string): Network | undefined => n.pending.get(uuid) ?? n.cfg.networks.get(uuid);

/**
 * _PrepareNicModification: the NIC's new parameters (a network's from the
 * node's group, else the old ones updated), its MAC, and its address
 * reserved in, drawn from or released to the networks' pools.
 */
function prepareNic(n: NicContext, params: Record<string, unknown>, old: Nic | null): { nic: Nic; filled: Params } {
  const { cfg } = n;
  const update: Params = {};
  for (const k of ['link', 'mode', 'vlan']) if (k in params) update[k] = params[k];
  const oldNet = old?.network ?? null;
  const netRef = 'network' in params ? (params.network as string | null) : oldNet;
  const newNet = netRef ? pendingNet(n, findNetwork(cfg, netRef).uuid)! : null;
  let newParams: Params;
  if (newNet) {
    const netparams = cfg.groups.get(n.pnode.group)?.networks[newNet.uuid];
    if (!netparams) throw new OpPrereqError(`No netparams found for the network ${newNet.name}, probably not connected`, 'wrong_input');
    newParams = { ...netparams };
  } else {
    newParams = updatedParams(old?.nicparams ?? {}, update);
  }
  newParams = forceDictType(newParams, NICS_PARAMETER_TYPES);
  const filled = fillDict(cfg.cluster.nicparams.default, newParams);
  checkNicParams(filled);
  const oldIp = old?.ip ?? null;
  let ip = 'ip' in params ? (params.ip as string | null) : oldIp;
  if (filled.mode === 'routed' && ip === null && !newNet) {
    throw new OpPrereqError('Cannot set the NIC IP address to None on a routed NIC if not attached to a network', 'wrong_input');
  }

  const prefix = (net: Network | null) => net?.mac_prefix ?? null;
  let mac = old?.mac ?? '';
  if ('mac' in params) {
    const m = params.mac as string | null;
    if (m === null) throw new OpPrereqError('Cannot unset the NIC MAC address', 'wrong_input');
    if (m === 'auto' || m === 'generate') mac = generateMac(prefix(newNet) ?? cfg.cluster.mac_prefix, n.usedMacs);
    else if (n.usedMacs.has(m.toLowerCase()) && m.toLowerCase() !== old?.mac) {
      throw new OpPrereqError(`MAC address '${m}' already in use in cluster`, 'resource_not_unique');
    } else mac = m.toLowerCase();
    params.mac = mac;
    n.usedMacs.add(mac);
  } else if ((newNet?.uuid ?? null) !== oldNet) {
    // Another network may hand out MACs with another prefix.
    const oldPrefix = prefix(oldNet ? cfg.networks.get(oldNet) ?? null : null);
    if (oldPrefix !== prefix(newNet)) {
      mac = generateMac(prefix(newNet) ?? cfg.cluster.mac_prefix, n.usedMacs);
      params.mac = mac;
      n.usedMacs.add(mac);
    }
  }

  if (ip !== oldIp || (newNet?.uuid ?? null) !== oldNet) {
    if (ip) {
      if (ip.toLowerCase() === 'pool') {
        if (!newNet) throw new OpPrereqError('ip=pool, but no network found', 'wrong_input');
        try {
          const got = generateFreeIp(pendingNet(n, newNet.uuid)!);
          n.pending.set(newNet.uuid, got.network);
          ip = got.ip;
        } catch (err) {
          if (!(err instanceof ReservationError)) throw err;
          throw new OpPrereqError('Unable to get a free IP from the address pool', 'wrong_state');
        }
        n.infos.push(`Chose IP ${ip} from network ${newNet.name}`);
        params.ip = ip;
      } else if (newNet) {
        try {
          n.pending.set(newNet.uuid, reserveIp(pendingNet(n, newNet.uuid)!, ip, n.conflictsCheck));
        } catch (err) {
          if (!(err instanceof ReservationError)) throw err;
          throw new OpPrereqError(`IP ${ip} not available in network ${newNet.name}`, 'resource_not_unique');
        }
        n.infos.push(`Reserving IP ${ip} in network ${newNet.name}`);
      } else if (n.conflictsCheck) {
        checkForConflictingIp(n, ip);
      }
    }
    if (oldIp && oldNet) releaseNicIp(n, oldNet, oldIp);
  } else if (oldNet !== null && (update.link !== undefined || update.mode !== undefined)) {
    throw new OpPrereqError('Not allowed to change link or mode of a NIC that is connected to a network', 'wrong_input');
  }
  const nic: Nic = {
    uuid: old?.uuid ?? randomUUID(), mac, ip,
    name: 'name' in params ? (params.name as string | null) : (old?.name ?? null),
    network: newNet?.uuid ?? null, nicparams: filled,
  };
  return { nic, filled };
}

/** CheckForConflictingIp: an address of a network of the node's group needs that network on the NIC. */
function checkForConflictingIp(n: NicContext, ip: string): void {
  for (const uuid of Object.keys(n.cfg.groups.get(n.pnode.group)?.networks ?? {})) {
    const net = pendingNet(n, uuid);
    if (net && new AddressPool(net).contains(ip)) {
      throw new OpPrereqError(`The requested IP address (${ip}) belongs to network ${net.name}, but the target NIC does not.`, 'wrong_state');
    }
  }
}

/** cfg.ReleaseIp: an address the pool does not hold is only logged, as Ganeti does. */
function releaseNicIp(n: NicContext, netUuid: string, ip: string): void {
  const net = pendingNet(n, netUuid);
  if (!net) return;
  try {
    n.pending.set(netUuid, releaseIp(net, ip));
  } catch (err) {
    if (!(err instanceof ReservationError)) throw err;
    console.warn(`rapid: release IP ${ip} not contained in network ${net.name}`);
  }
}

/** NIC modifications applied to a copy, with Ganeti's change descriptions. */
function planNics(n: NicContext, inst: Instance, mods: Mod[]): { nics: Nic[]; changes: Change[] } {
  const nics = inst.nics.map((nic) => ({ ...nic }));
  const changes: Change[] = [];
  for (const [op, identifier, params] of mods) {
    if (op === 'add') {
      const idx = addIndex(identifier, 'NIC', nics.length);
      const { nic, filled } = prepareNic(n, params, null);
      changes.push([`nic.${idx}`, `add:mac=${nic.mac},ip=${pyStr(nic.ip)},mode=${filled.mode},link=${filled.link},network=${pyStr(params.network)}`]);
      nics.splice(idx, 0, nic);
    } else if (op === 'remove') {
      const idx = itemIndex(identifier, 'NIC', nics);
      const gone = nics[idx];
      if (gone.network && gone.ip) releaseNicIp(n, gone.network, gone.ip);
      changes.push([`NIC/${idx}`, 'remove']);
      nics.splice(idx, 1);
    } else if (op === 'detach') {
      throw new OpPrereqError('Detach operation is not supported for NICs', 'wrong_input');
    } else {
      const idx = itemIndex(identifier, 'NIC', nics);
      const old = nics[idx];
      const { nic, filled } = prepareNic(n, params, old);
      for (const k of ['mac', 'ip', 'name'] as const) if (k in params) changes.push([`nic.${k}/${idx}`, params[k]]);
      if (nic.network !== old.network) changes.push([`nic.network/${idx}`, 'network' in params ? params.network : old.network]);
      for (const [k, v] of Object.entries(filled)) changes.push([`nic.${k}/${idx}`, v]);
      nics[idx] = nic;
    }
  }
  if (nics.length > MAX_NICS) throw new OpPrereqError(`Instance has too many network interfaces (${nics.length}), cannot add more`, 'wrong_state');
  validateNames('NIC', nics);
  return { nics, changes };
}

/** _VerifyDiskModification, then the modifications tried on a copy of the disks. */
async function verifyDiskMods(ctx: OpContext, op: Opcode, inst: Instance, mods: Mod[], hotplug: boolean): Promise<void> {
  const cluster = ctx.cfg.cluster;
  for (const [kind, , params] of mods) {
    if (kind === 'remove' || kind === 'detach') {
      if (Object.keys(params).length) throw new OpPrereqError('No settings should be passed when removing or detaching a disk', 'wrong_input');
    }
    if (kind === 'attach' || kind === 'detach') {
      // rapid keeps disks inside their instance; a detached disk has nowhere to live.
      throw new OpPrereqError(`Disk ${kind} is not supported by rapid`, 'wrong_input');
    }
    if (kind === 'add') {
      const type = (params.dev_type as string | undefined) ?? inst.disk_template;
      params.dev_type = type;
      if (type === 'diskless') throw new OpPrereqError('Must specify disk type on diskless instance', 'wrong_input');
      Object.assign(params, forceDictType(params, IDISK_PARAMS_TYPES));
      const mode = (params.mode as string | undefined) ?? 'rw';
      params.mode = mode;
      if (mode !== 'rw' && mode !== 'ro') throw new OpPrereqError(`Invalid disk access mode '${mode}'`, 'wrong_input');
      if (params.size === undefined || params.size === null) throw new OpPrereqError("Required disk parameter 'size' missing", 'wrong_input');
      if (isNone(params.name)) params.name = null;
      if (!op.wait_for_sync && !disksActive(inst)) {
        throw new OpPrereqError("Can't add a disk to an instance with deactivated disks and --no-wait-for-sync given", 'wrong_input');
      }
      if (!cluster.enabled_disk_templates.includes(type)) {
        throw new OpPrereqError(`Disk template '${type}' is not enabled in cluster. Enabled disk templates are: ${cluster.enabled_disk_templates.join(',')}`);
      }
      if (inst.disk_template !== 'diskless' && type !== inst.disk_template) {
        throw new OpPrereqError(`Instance has '${inst.disk_template}' disks; rapid keeps one disk template per instance, so '${type}' disks cannot be added`, 'wrong_input');
      }
      if (!FILE_TEMPLATES.includes(type)) throw new OpPrereqError(`Disk template '${type}' is not supported by rapid`, 'wrong_input');
    } else if (kind === 'modify') {
      if ('size' in params) throw new OpPrereqError('Disk size change not possible, use grow-disk', 'wrong_input');
      Object.assign(params, forceDictType(params, MODIFIABLE_IDISK_PARAMS_TYPES));
      if (isNone(params.name)) params.name = null;
      if ('mode' in params && params.mode !== 'rw' && params.mode !== 'ro') throw new OpPrereqError(`Invalid disk access mode '${params.mode}'`, 'wrong_input');
    } else if (kind === 'remove' && !hotplug) {
      await checkState(ctx, inst, INSTANCE_NOT_RUNNING, "can't remove volume from a running instance without using hotplug");
    }
  }
  const disks = inst.disks.map((d) => ({ uuid: d.uuid, name: d.name }));
  for (const [kind, identifier, params] of mods) {
    if (kind === 'add') disks.splice(addIndex(identifier, 'disk', disks.length), 0, { uuid: '', name: (params.name as string | null | undefined) ?? null });
    else if (kind === 'remove') disks.splice(itemIndex(identifier, 'disk', disks), 1);
    else { const i = itemIndex(identifier, 'disk', disks); if ('name' in params) disks[i] = { ...disks[i], name: params.name as string | null }; }
  }
  validateNames('disk', disks);
  if (disks.length > MAX_DISKS) throw new OpPrereqError(`Instance has too many disks (${disks.length}), cannot add more`, 'wrong_state');
}

/** _PreCheckDiskTemplate. */
async function checkTemplateChange(ctx: OpContext, op: Opcode, inst: Instance, to: string): Promise<Node | null> {
  const cluster = ctx.cfg.cluster;
  if (NOT_CONVERTIBLE_FROM.has(inst.disk_template)) {
    throw new OpPrereqError(`Conversion from the '${inst.disk_template}' disk template is not supported`, 'wrong_input');
  }
  if (NOT_CONVERTIBLE_TO.has(to)) throw new OpPrereqError(`Conversion to the '${to}' disk template is not supported`, 'wrong_input');
  if (inst.disks.every((d) => d.dev_type === to)) throw new OpPrereqError(`Instance already has disk template ${to}`, 'wrong_input');
  if (!cluster.enabled_disk_templates.includes(to)) {
    throw new OpPrereqError(`Disk template '${to}' is not enabled for this cluster (enabled templates: ${cluster.enabled_disk_templates.join(', ')})`, 'wrong_state');
  }
  // rapid's drbd keeps its replicas in files: no volume group needed.
  if (!cluster.volume_group_name && !NOT_LVM.has(to) && to !== DRBD) {
    throw new OpPrereqError('Disk template conversions to lvm-based instances are not supported by the cluster', 'wrong_state');
  }
  await checkState(ctx, inst, INSTANCE_DOWN, 'cannot change disk template');
  const convertible = [...FILE_TEMPLATES, DRBD];
  if (!convertible.includes(to) || !convertible.includes(inst.disk_template)) {
    throw new OpPrereqError(`Conversion from '${inst.disk_template}' to '${to}' is not supported by rapid`, 'wrong_input');
  }
  if (to !== DRBD) {
    if (op.remote_node) await logWarning(ctx, 'Changing the disk template to a non-mirrored one, the secondary node will be ignored');
    return null;
  }
  // The mirror node: given, or chosen by the (cluster's) allocator (CheckIAllocatorOrNode).
  const pnode = primaryNode(ctx.cfg, inst);
  let snode: Node;
  if (op.remote_node) {
    snode = findNode(ctx.cfg, op.remote_node);
    if (snode.uuid === pnode.uuid) {
      throw new OpPrereqError(`Given new secondary node ${snode.name} is the same as the primary node of the instance`, 'wrong_state');
    }
    checkNodeOnline(snode);
    checkNodeNotDrained(snode);
    checkNodeVmCapable(snode);
  } else {
    const allocator = (op.iallocator as string | null) ?? cluster.default_iallocator;
    if (!allocator) {
      throw new OpPrereqError('No iallocator or node given and no cluster-wide default iallocator found; please specify either an iallocator or a node, or set a cluster-wide default iallocator', 'wrong_input');
    }
    snode = pickNode(ctx.cfg, allocator, [pnode.uuid], 0, `Can't compute nodes using iallocator '${allocator}'`);
  }
  return snode;
}

/** _ProcessMem: a bigger maxmem must still let the instance start; runtime memory within bounds. */
async function checkMemory(ctx: OpContext, op: Opcode, inst: Instance, pnode: Node, beOld: Params, beNew: Params, beProposed: Params, warnings: string[]): Promise<void> {
  const be = op.beparams as Params;
  if ('maxmem' in be && !op.force && Number(beNew.maxmem) > Number(beOld.maxmem)) {
    const rt = ctx.cfg.liveRuntime(pnode.uuid);
    const info = await rpc<{ memory: number } | null>(ctx, pnode, STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor });
    if (!rt) warnings.push(`Can't get info from primary node ${pnode.name}: Node ${pnode.name} is not responding (its node worker sends no heartbeat)`);
    else if (!info.ok) warnings.push(`Can't get instance runtime information: ${info.msg}`);
    else {
      const current = info.payload ? Number(info.payload.memory) : 0;
      const missing = Number(beNew.maxmem) - current - rt.mfree;
      if (missing > 0) {
        throw new OpPrereqError(`This change will prevent the instance from starting, due to ${missing} MB of memory missing on its primary node`, 'insufficient_resources');
      }
    }
  }
  if (op.runtime_mem) {
    const info = raiseOn(
      await rpc<{ memory: number } | null>(ctx, pnode, STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor }),
      `Error checking node ${pnode.name}`, {},
    );
    if (!info) throw new OpPrereqError(`Instance ${inst.name} is not running`, 'wrong_state');
    const mem = Number(op.runtime_mem);
    if (!op.force && (mem > Number(beProposed.maxmem) || mem < Number(beProposed.minmem))) {
      throw new OpPrereqError(`Instance ${inst.name} must have memory between ${beProposed.minmem} and ${beProposed.maxmem} MB of memory unless --force is given`, 'wrong_input');
    }
    const delta = mem - Number(info.memory);
    if (delta > 0) checkFreeMemory(ctx.cfg, pnode, `ballooning memory for instance ${inst.name}`, delta);
  }
}

async function setParamsPrereq(op: Opcode, ctx: OpContext): Promise<SetParamsPlan> {
  const { cfg } = ctx;
  // CheckArguments.
  const hv = op.hvparams as Params;
  const beRaw = op.beparams as Params;
  const os = op.osparams as Params;
  if (!((op.nics as unknown[]).length || (op.disks as unknown[]).length || op.disk_template || Object.keys(hv).length
    || Object.keys(beRaw).length || op.os_name || Object.keys(os).length || op.offline !== null || op.runtime_mem || op.pnode
    || op.osparams_private || op.instance_communication !== null)) {
    throw new OpPrereqError('No changes submitted', 'wrong_input');
  }
  if (Object.keys(hv).length) checkParamsNotGlobal(hv);
  const diskMods = upgradeMods('disk', structuredClone(op.disks as unknown[]));
  const nicMods = upgradeMods('NIC', structuredClone(op.nics as unknown[]));
  const warnings: string[] = [];
  if (op.disk_template) {
    if (diskMods.length) throw new OpPrereqError('Disk template conversion and other disk changes not supported at the same time', 'wrong_input');
    if (op.remote_node) await logWarning(ctx, 'Changing the disk template to a non-mirrored one, the secondary node will be ignored');
  }
  for (const [kind, , params] of nicMods) {
    Object.assign(params, forceDictType(params, INIC_PARAMS_TYPES));
    verifyNicMod(kind, params);
  }
  const newPnode = op.pnode ? findNode(cfg, op.pnode) : null;
  if (op.osparams_private) throw new OpPrereqError('Private OS parameters are not supported by rapid', 'wrong_input');
  if (op.instance_communication) throw new OpPrereqError('Instance communication is not supported by rapid', 'wrong_input');

  // CheckPrereq.
  const inst = findInstance(cfg, op.instance_name);
  const pnode = primaryNode(cfg, inst);
  for (const m of diskMods) {
    if (typeof m[1] === 'string' && !/^\s*[-+]?\d+\s*$/.test(m[1])) {
      const i = inst.disks.findIndex((d) => d.name === m[1] || d.uuid === m[1]);
      if (i < 0) throw new OpPrereqError(`Lookup of disk '${m[1]}' failed`);
      m[1] = i;
    }
  }
  if (newPnode && newPnode.uuid !== inst.primary_node && !op.force) {
    const info = await rpc<unknown>(ctx, pnode, STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor });
    if (!info.ok) warnings.push(`Can't get instance runtime information: ${info.msg}`);
    else if (info.payload) throw new OpPrereqError(`Instance is still running on ${pnode.name}`, 'wrong_state');
  }

  // _CheckHotplug.
  let hotplug = false;
  if (op.hotplug || op.hotplug_if_possible) {
    const r = await rpc(ctx, pnode, STEP.hotplugSupported, { spec: instanceSpec(cfg, inst) });
    if (r.ok) hotplug = true;
    else if (op.hotplug) raiseOn(r, `Hotplug is not possible: ${r.msg}`, { ecode: 'wrong_state' });
    else {
      await logWarning(ctx, r.msg);
      await logInfo(ctx, 'Modification will take place without hotplugging.');
    }
  }

  let template: SetParamsPlan['template'] = null;
  if (op.disk_template) {
    const snode = await checkTemplateChange(ctx, op, inst, String(op.disk_template));
    template = { from: inst.disk_template, to: String(op.disk_template), snode };
  }
  await verifyDiskMods(ctx, op, inst, diskMods, hotplug);
  if (op.offline !== null) {
    await checkState(ctx, inst, INSTANCE_NOT_RUNNING, op.offline
      ? "can't change to offline without being down first"
      : "can't change to online (down) without being offline first");
  }

  // _ProcessHVParams.
  let hvInst: Params | null = null;
  if (Object.keys(hv).length) {
    hvInst = forceDictType(updatedParams(inst.hvparams, hv), HVS_PARAMETER_TYPES);
    // SimpleFillHV with the globals: the hypervisor checks every parameter it has.
    const c = cfg.cluster;
    checkHvParams(inst.hypervisor, fillDict(fillDict(c.hvparams[inst.hypervisor], c.os_hvp[inst.os]?.[inst.hypervisor]), hvInst));
  }
  // _ProcessBeParams.
  const beOld = filledBeParams(cfg.cluster, inst);
  let beInst: Params | null = null;
  let beNew: Params = {};
  if (Object.keys(beRaw).length) {
    beInst = forceDictType(upgradeBeParams(updatedParams(inst.beparams, beRaw, { useNone: true })), BES_PARAMETER_TYPES);
    beNew = filledBeParams(cfg.cluster, { beparams: beInst });
  }
  const beProposed = beInst ? beNew : beOld;
  // _ProcessOsParams.
  let osInst: Params | null = null;
  if (Object.keys(os).length) {
    osInst = updatedParams(inst.osparams, os);
    await checkOsParams(ctx, [pnode], true, op.os_name && !op.force ? String(op.os_name) : inst.os, osInst, op.force_variant === true);
  }
  await checkMemory(ctx, op, inst, pnode, beOld, beNew, beProposed, warnings);

  let nics: Nic[] | null = null;
  let nicChanges: Change[] = [];
  const pending: PendingNetworks = new Map();
  if (nicMods.length) {
    const usedMacs = new Set([...cfg.instances.values()].flatMap((i) => i.nics.map((nic) => nic.mac)));
    const infos: string[] = [];
    ({ nics, changes: nicChanges } = planNics({ cfg, pnode: newPnode ?? pnode, usedMacs, pending, conflictsCheck: op.conflicts_check !== false, infos }, inst, nicMods));
    for (const line of infos) await logInfo(ctx, line);
  }

  return {
    inst, pnode, newPnode: newPnode && newPnode.uuid !== inst.primary_node ? newPnode : null, warnings, hotplug,
    runtimeMem: op.runtime_mem ? Number(op.runtime_mem) : null, diskMods, template, nics, nicChanges, networks: pending, hvInst, beInst, osInst,
  };
}

/** ApplyContainerMods for disks: node work now, the new disk list for the final commit. */
async function applyDiskMods(ctx: OpContext, op: Opcode, plan: SetParamsPlan, inst: Instance, result: Change[], created: Disk[], removed: Disk[]): Promise<Instance> {
  let cur = inst;
  for (const [kind, identifier, params] of plan.diskMods) {
    const disks = [...cur.disks];
    if (kind === 'add') {
      const idx = addIndex(identifier, 'disk', disks.length);
      const template = String(params.dev_type);
      const disk = newDisk(cur.name, template, idx, {
        size: Number(params.size), mode: params.mode as string, name: (params.name as string | null | undefined) ?? null,
        spindles: (params.spindles as number | undefined) ?? null,
      }, (cur.disks[0]?.logical_id as string[] | undefined)?.[0] ?? (op.file_driver as string | null) ?? 'loop');
      disks.splice(idx, 0, disk);
      cur = { ...cur, disks, disk_template: template };
      await createDisks(ctx, cur, plan.newPnode ?? plan.pnode, [disk]);
      created.push(disk);
      result.push([`disk/${idx}`, `add:size=${disk.size},mode=${disk.mode}`]);
      await waitForSync(ctx, cur, !op.wait_for_sync);
      if (plan.hotplug) result.push([`disk/${idx}`, await hotplugDevice(ctx, cur, 'hotadd', 'disk', disk.uuid, idx)]);
    } else if (kind === 'remove') {
      const idx = itemIndex(identifier, 'disk', disks);
      result.push([`disk/${idx}`, 'remove']);
      if (plan.hotplug) result.push([`disk/${idx}`, await hotplugDevice(ctx, cur, 'hotremove', 'disk', disks[idx]!.uuid, idx)]);
      removed.push(disks[idx]);
      disks.splice(idx, 1);
      cur = { ...cur, disks, disk_template: disks.length ? cur.disk_template : 'diskless' };
    } else {
      const idx = itemIndex(identifier, 'disk', disks);
      const d = { ...disks[idx] };
      if ('mode' in params) { d.mode = params.mode as Disk['mode']; result.push([`disk.mode/${idx}`, d.mode]); }
      if ('name' in params) { d.name = params.name as string | null; result.push([`disk.name/${idx}`, d.name]); }
      disks[idx] = d;
      cur = { ...cur, disks };
    }
  }
  return cur;
}

/** LUInstanceSetParams._HotplugDevice: a failure is a warning, and the change goes on. */
async function hotplugDevice(ctx: OpContext, inst: Instance, action: 'hotadd' | 'hotremove' | 'hotmod', target: 'disk' | 'nic', uuid: string, seq: number): Promise<string> {
  await logInfo(ctx, 'Trying to hotplug device...');
  const r = await rpc(ctx, primaryNode(ctx.cfg, inst), STEP.hotplug, { spec: instanceSpec(ctx.cfg, inst), action, target, uuid, seq });
  if (!r.ok) {
    await logWarning(ctx, `Could not hotplug device: ${r.msg}`);
    await logInfo(ctx, 'Continuing execution..');
    return 'hotplug:failed';
  }
  await logInfo(ctx, 'Hotplug done.');
  return 'hotplug:done';
}

/** The NICs that went, came or changed, hotplugged on the running guest (_RemoveNic, _CreateNewNic, _ApplyNicMods). */
async function hotplugNics(ctx: OpContext, before: Instance, after: Instance): Promise<Change[]> {
  const changes: Change[] = [];
  const was = new Map(before.nics.map((n) => [n.uuid, n]));
  const is = new Set(after.nics.map((n) => n.uuid));
  for (const [i, n] of before.nics.entries()) {
    if (!is.has(n.uuid)) changes.push([`nic/${i}`, await hotplugDevice(ctx, before, 'hotremove', 'nic', n.uuid, i)]);
  }
  for (const [i, n] of after.nics.entries()) {
    const prev = was.get(n.uuid);
    if (!prev) changes.push([`nic/${i}`, await hotplugDevice(ctx, after, 'hotadd', 'nic', n.uuid, i)]);
    else if (JSON.stringify(prev) !== JSON.stringify(n)) changes.push([`nic/${i}`, await hotplugDevice(ctx, after, 'hotmod', 'nic', n.uuid, i)]);
  }
  return changes;
}

/** _ConvertInstanceDisks between the two file templates: new files, data copied, old files removed. */
async function convertDisks(ctx: OpContext, op: Opcode, inst: Instance, from: string, to: string, snode: Node | null, result: Change[], created: Disk[]): Promise<Instance> {
  const node = primaryNode(ctx.cfg, inst);
  await ctx.log(`Converting disk template from '${from}' to '${to}'`);
  await ctx.log(`Generating new '${to}' disk template...`);
  const driver = (op.file_driver as string | null) ?? 'loop';
  const ids = snode ? allocateDrbd(ctx.cfg, node.uuid, snode.uuid, inst.disks.length) : [];
  const fresh = inst.disks.map((d, i) => (snode
    ? { ...newDisk(inst.name, to, i, d, driver), logical_id: drbdLogicalId(node.uuid, snode.uuid, ids[i]!) }
    : newDisk(inst.name, to, i, d, driver)));
  const converted: Instance = { ...inst, disks: fresh, disk_template: to, secondary_nodes: snode ? [snode.uuid] : [] };
  await ctx.log(`Creating new empty disks of type '${to}'...`);
  try {
    await createDisks(ctx, converted, node, fresh, to);
  } catch (err) {
    await logWarning(ctx, 'Device creation failed');
    throw err;
  }
  created.push(...fresh);
  // Replicas are reached through their storage daemons: up for the copy (new ones made authoritative), down after.
  const replicas = [...(from === DRBD ? [inst] : []), ...(to === DRBD ? [converted] : [])];
  for (const r of replicas) {
    const [up] = await assembleDisks(ctx, r, undefined, { force: r === converted });
    if (!up) throw new OpExecError("Can't activate the instance's disks");
  }
  const end = (owner: Instance, d: Disk) => ({ logicalId: d.logical_id, template: d.dev_type, drbd: isDrbd(d) ? specWith(ctx.cfg, owner, [d]).disks[0] : undefined });
  await ctx.log(`Populating the new empty disks of type '${to}'...`);
  for (const [i, old] of inst.disks.entries()) {
    await ctx.log(` - copying data from disk ${i} (${old.dev_type}), size ${formatUnit(fresh[i].size)}`);
    const r = await rpc(ctx, node, STEP.disksConvert, { from: end(inst, old), to: end(converted, fresh[i]!) });
    if (!r.ok) {
      await ctx.log(` - ERROR: Could not copy disk '${diskLabel(old)}' to '${diskLabel(fresh[i]!)}'`);
      await logInfo(ctx, 'Some disks failed to copy');
      await logInfo(ctx, 'The instance will not be affected, aborting operation');
      await logInfo(ctx, `Removing newly created disks of type '${to}'...`);
      await removeDisks(ctx, inst, node, fresh, to);
      created.length = 0;
      await logInfo(ctx, 'Newly created disks removed successfully');
      raiseOn(r, "Error while converting the instance's template");
    }
  }
  if (to === DRBD && !(await waitForSync(ctx, converted))) throw new OpExecError('There are some degraded disks for this instance');
  for (const r of replicas) await shutdownDisks(ctx, r);
  await ctx.log(`Detaching old disks (${from}) from the instance and removing them from cluster config`);
  await ctx.log(`Adding new disks (${to}) to cluster config and attaching them to the instance`);
  result.push(['disk_template', to]);
  return converted;
}

/** How Ganeti names a disk in conversion logs: a file's path, a drbd disk's port. */
const diskLabel = (d: Disk) => (isDrbd(d) ? `drbd:${drbdIds(d).port}` : String((d.logical_id as string[])[1]));

export const OP_INSTANCE_SET_PARAMS = define<SetParamsPlan>({
  locks: (op, cfg) => [
    ...instanceOpLocks(op, cfg, [op.pnode as string | null]),
    // Address pools the NICs leave or join.
    ...nicNetworkLocks(cfg, [
      ...(op.nics as unknown[][]).map((m) => m[m.length - 1]),
      ...((op.nics as unknown[]).length ? (cfg.byName('instance', String(op.instance_name))?.nics ?? []) : []),
    ]),
  ],
  prereq: setParamsPrereq,
  async exec(plan, op, ctx) {
    for (const w of plan.warnings) await ctx.log(`WARNING: ${w}`);
    const result: Change[] = [];
    let inst: Instance = { ...plan.inst };
    if (plan.newPnode) inst.primary_node = plan.newPnode.uuid;
    if (plan.runtimeMem !== null) {
      raiseOn(await rpc(ctx, plan.pnode, STEP.instanceBalloon, { spec: instanceSpec(ctx.cfg, plan.inst), memory: plan.runtimeMem }), 'Cannot modify instance runtime memory');
      result.push(['runtime_memory', plan.runtimeMem]);
    }
    // Files made for this change; removed again if the change fails.
    const created: Disk[] = [];
    const removed: Disk[] = [];
    const node = plan.newPnode ?? plan.pnode;
    let oldDisks: Disk[] = [];
    try {
      inst = await applyDiskMods(ctx, op, plan, inst, result, created, removed);
      if (plan.template) {
        oldDisks = inst.disks;
        inst = await convertDisks(ctx, op, inst, plan.template.from, plan.template.to, plan.template.snode, result, created);
      }
      if (plan.nics) {
        const old = plan.inst.nics;
        inst.nics = plan.nics;
        result.push(...plan.nicChanges);
        if (plan.hotplug) result.push(...await hotplugNics(ctx, { ...plan.inst, nics: old }, inst));
      }
      if (plan.hvInst) {
        inst.hvparams = plan.hvInst;
        for (const [k, v] of Object.entries(op.hvparams as Params)) result.push([`hv/${k}`, v]);
      }
      if (plan.beInst) {
        inst.beparams = plan.beInst;
        for (const [k, v] of Object.entries(op.beparams as Params)) result.push([`be/${k}`, v]);
      }
      if (op.os_name) inst.os = String(op.os_name);
      if (plan.osInst) {
        inst.osparams = plan.osInst;
        for (const [k, v] of Object.entries(op.osparams as Params)) result.push([`os/${k}`, v]);
      }
      if (op.offline !== null) {
        inst.admin_state = op.offline ? 'offline' : 'down';
        result.push(['admin_state', inst.admin_state]);
      }
      await ctx.cfg.commit([{ kind: 'instance', obj: inst }, ...networkWrites(plan.networks)]);
    } catch (err) {
      for (const d of created) await removeDisks(ctx, inst, node, [d], d.dev_type);
      throw err;
    }
    if (plan.template) {
      // A conversion to drbd waited for its replicas before they were shut down.
      if (plan.template.to !== DRBD) await waitForSync(ctx, inst, !op.wait_for_sync);
      await ctx.log(`Removing old block devices of type '${plan.template.from}'...`);
      await removeDisks(ctx, plan.inst, node, oldDisks, plan.template.from);
    }
    for (const d of removed) await removeDisks(ctx, plan.inst, node, [d], d.dev_type);
    return result;
  },
});

// ---------------------------------------------------------------------------

interface RenamePlan { inst: Instance; newName: string }

/** netutils.TcpPing with live_port_needed=False: any answer, even a refusal, means the address is in use. */
function tcpPing(host: string, port: number, timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: boolean) => { s.destroy(); resolve(v); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}

export const OP_INSTANCE_RENAME = define<RenamePlan>({
  locks: (op, cfg) => [
    ...instanceOpLocks(op, cfg),
    { level: 'instance', name: String(op.new_name), shared: false },
  ],
  async prereq(op, ctx) {
    const { cfg } = ctx;
    if (op.ip_check && !op.name_check) throw new OpPrereqError('IP address check requires a name check', 'wrong_input');
    const newName = String(op.new_name);
    if (op.name_check) {
      await checkNameResolves(newName);
      if (op.ip_check) {
        const { address } = await lookup(newName);
        if (await tcpPing(address, DEFAULT_NODED_PORT)) {
          throw new OpPrereqError(`IP ${address} of instance ${newName} already in use`, 'resource_not_unique');
        }
      }
    }
    const inst = findInstance(cfg, op.instance_name);
    if (newName !== inst.name && cfg.byName('instance', newName)) {
      throw new OpPrereqError(`Instance '${newName}' is already in the cluster`, 'already_exists');
    }
    for (const d of inst.disks) {
      if (FILE_TEMPLATES.includes(d.dev_type) && newName !== inst.name && !cfg.cluster.enabled_disk_templates.includes(d.dev_type)) {
        throw new OpPrereqError(`Disk template '${d.dev_type}' is not enabled in cluster. Enabled disk templates are: ${cfg.cluster.enabled_disk_templates.join(',')}`);
      }
    }
    checkNodeOnline(primaryNode(cfg, inst));
    await checkState(ctx, inst, INSTANCE_NOT_RUNNING, 'cannot rename');
    return { inst, newName };
  },
  async exec({ inst, newName }, op, ctx) {
    const node = primaryNode(ctx.cfg, inst);
    const oldDir = fileStorageDir(inst);
    const moveFiles = oldDir !== null && newName !== inst.name && FILE_TEMPLATES.includes(inst.disk_template);
    // ConfigWriter.RenameInstance: file disks live in a directory named after the instance.
    const disks = inst.disks.map((d) => {
      if (!moveFiles || !Array.isArray(d.logical_id)) return d;
      const [driver, rel] = d.logical_id as [string, string];
      return { ...d, logical_id: [driver, `${newName}/${rel.split('/').pop()}`] };
    });
    const renamed: Instance = { ...inst, name: newName, disks };
    const newDir = fileStorageDir(renamed);
    if (moveFiles) {
      // The directory first: if that fails, nothing was renamed.
      raiseOn(await rpc(ctx, node, STEP.disksRenameDir, { from: oldDir, to: newDir, template: inst.disk_template }),
        `Could not rename on node ${node.name} directory '${oldDir}' to '${newDir}' (but the instance has been renamed in Ganeti)`);
    }
    try {
      await ctx.cfg.commit([{ kind: 'instance', obj: renamed }]);
    } catch (err) {
      if (moveFiles) await rpc(ctx, node, STEP.disksRenameDir, { from: newDir, to: oldDir, template: inst.disk_template });
      throw err;
    }
    // StartInstanceDisks / ShutdownInstanceDisks around the OS rename: the files must be there.
    const [assembled] = await assembleDisks(ctx, renamed);
    if (!assembled) throw new OpExecError('Disk consistency error');
    // The instance is renamed already: an OS rename script that fails is only warned about.
    const spec = instanceSpec(ctx.cfg, ctx.cfg.instances.get(inst.uuid) ?? renamed);
    const ren = await osRpc(ctx, node, STEP.osRename, { spec, old_name: inst.name, debug: op.debug_level ?? 0 }, 'rename');
    if (!ren.ok) {
      await logWarning(ctx, `Could not run OS rename script for instance ${newName} on node ${node.name} (but the instance has been renamed in Ganeti): ${ren.msg}`);
    }
    return newName;
  },
});
