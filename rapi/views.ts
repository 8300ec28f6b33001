// The RAPI field lists (rlib2.py) and the builders that project config objects
// onto them. Every builder walks its field list, so the list is the single
// source of key order; TypeScript checks that each field has a getter.
//
// Semantics follow what serves these fields in Ganeti 3.0: the Haskell query
// code (src/Ganeti/Query/{Instance,Node,Group,Server}.hs), which agrees with
// the older query.py except where noted. Returned dicts may share frozen
// sub-objects with a per-snapshot cache: serialize them, don't mutate them.
import { arch as processArch } from 'node:process';
import { machine } from 'node:os';
import type { Snapshot } from '../src/store/snapshot.ts';
import type { Cluster, Instance, InstanceRuntime, Network, Node, NodeGroup, NodeRuntime, Params } from '../src/model.ts';
import { poolStats, type PoolStats } from '../jobs/ops/network-ipam.ts';
import {
  AF_INET6, BEC_DEFAULTS, CONFIG_VERSION, DATA_COLLECTOR_INTERVAL_US, DATA_COLLECTOR_NAMES,
  DEFAULT_GLUSTER_STORAGE_DIR, DISK_DT_DEFAULTS, DRBD_META_SIZE, EXPORT_VERSION, HVC_DEFAULTS,
  HVC_GLOBALS, IEC_DEFAULT_TOOLS, IPOLICY_DEFAULTS, NDC_DEFAULTS, NICC_DEFAULTS, OS_API_VERSION,
  PROTOCOL_VERSION, SOFTWARE_VERSION, SSH_DEFAULT_KEY_BITS, SSH_DEFAULT_KEY_TYPE,
  deepFreeze, fillDict, fillDiskParams, fillIPolicy,
} from '../src/defaults.ts';
import { niceSort } from '../src/nicesort.ts';

/** Re-exported for the handlers that sort what they list. */
export { niceSort };

// ---------------------------------------------------------------------------
// Field lists, exactly as rlib2.py.

const COMMON_FIELDS = ['ctime', 'mtime', 'uuid', 'serial_no', 'tags'] as const;

export const I_FIELDS = [
  'name', 'admin_state', 'os',
  'pnode', 'snodes',
  'disk_template',
  'nic.ips', 'nic.macs', 'nic.modes', 'nic.uuids', 'nic.names',
  'nic.links', 'nic.networks', 'nic.networks.names', 'nic.bridges',
  'network_port',
  'disk.sizes', 'disk.spindles', 'disk_usage', 'disk.uuids',
  'disk.names',
  'beparams', 'hvparams',
  'oper_state', 'oper_ram', 'oper_vcpus', 'status',
  'custom_hvparams', 'custom_beparams', 'custom_nicparams',
  ...COMMON_FIELDS,
] as const;

export const N_FIELDS = [
  'name', 'offline', 'master_candidate', 'drained',
  'dtotal', 'dfree', 'sptotal', 'spfree',
  'mtotal', 'mnode', 'mfree',
  'pinst_cnt', 'sinst_cnt',
  'ctotal', 'cnos', 'cnodes', 'csockets',
  'pip', 'sip', 'role',
  'pinst_list', 'sinst_list',
  'master_capable', 'vm_capable',
  'ndparams',
  'group.uuid',
  ...COMMON_FIELDS,
] as const;

export const NET_FIELDS = [
  'name', 'network', 'gateway',
  'network6', 'gateway6',
  'mac_prefix',
  'free_count', 'reserved_count',
  'map', 'group_list', 'inst_list',
  'external_reservations',
  ...COMMON_FIELDS,
] as const;

export const G_FIELDS = [
  'alloc_policy',
  'name',
  'node_cnt',
  'node_list',
  'ipolicy',
  'custom_ipolicy',
  'diskparams',
  'custom_diskparams',
  'ndparams',
  'custom_ndparams',
  ...COMMON_FIELDS,
] as const;

export const J_FIELDS_BULK = [
  'id', 'ops', 'status', 'summary',
  'opstatus',
  'received_ts', 'start_ts', 'end_ts',
] as const;

export const J_FIELDS = [...J_FIELDS_BULK, 'oplog', 'opresult'] as const;

/** The keys of luxid's QueryClusterInfo answer, in its order (Query/Server.hs). */
export const INFO_FIELDS = [
  'software_version', 'protocol_version', 'config_version', 'os_api_version',
  'export_version', 'vcs_version', 'architecture', 'name', 'master',
  'default_hypervisor', 'enabled_hypervisors', 'hvparams', 'os_hvp', 'beparams',
  'osparams', 'ipolicy', 'nicparams', 'ndparams', 'diskparams',
  'candidate_pool_size', 'max_running_jobs', 'max_tracked_jobs', 'mac_prefix',
  'master_netdev', 'master_netmask', 'use_external_mip_script',
  'volume_group_name', 'drbd_usermode_helper', 'file_storage_dir',
  'shared_file_storage_dir', 'gluster_storage_dir', 'maintain_node_health',
  'ctime', 'mtime', 'uuid', 'tags', 'uid_pool', 'default_iallocator',
  'default_iallocator_params', 'reserved_lvs', 'primary_ip_version',
  'prealloc_wipe_disks', 'hidden_os', 'blacklisted_os', 'enabled_disk_templates',
  'install_image', 'instance_communication_network', 'zeroing_image',
  'compression_tools', 'enabled_user_shutdown', 'enabled_data_collectors',
  'data_collector_interval', 'modify_ssh_setup', 'ssh_key_type', 'ssh_key_bits',
] as const;

/** rlib2 R_2_info.GET_ALIASES: extra keys copied from existing ones. */
const INFO_ALIASES = { volume_group_name: 'vg_name', drbd_usermode_helper: 'drbd_helper' } as const;

export type IField = (typeof I_FIELDS)[number];
export type NField = (typeof N_FIELDS)[number];
export type GField = (typeof G_FIELDS)[number];
export type NetField = (typeof NET_FIELDS)[number];
export type InfoField = (typeof INFO_FIELDS)[number];

type Getters<F extends string, C> = { readonly [K in F]: (c: C) => unknown };

/** A builder that walks `fields` in order, calling each field's getter. */
function projector<F extends string, C>(fields: readonly F[], getters: Getters<F, C>): (c: C) => Record<string, unknown> {
  const pairs = fields.map((f) => [f, getters[f]] as const);
  return (c) => {
    const out: Record<string, unknown> = {};
    for (const [f, get] of pairs) out[f] = get(c);
    return out;
  };
}


// ---------------------------------------------------------------------------
// Per-snapshot derived data. Config-only facts are computed once per
// configuration serial; runtime reports are read fresh on every call.

interface Derived {
  readonly serial: number;
  readonly cluster: Cluster;
  /** Cluster parameters as Ganeti sees them after Cluster.UpgradeConfig. */
  readonly be: Readonly<Params>;
  readonly nic: Readonly<Params>;
  readonly nd: Readonly<Params>;
  readonly ipolicy: Readonly<Params>;
  readonly diskparams: Readonly<Record<string, Params>>;
  readonly hvCluster: Map<string, Readonly<Params>>;   // by hypervisor
  readonly hvInstBase: Map<string, Readonly<Params>>;  // by hypervisor + os
  readonly groupNd: Map<string, Readonly<Params>>;     // by group uuid
  nodeUuids?: string[];
  instIndex?: { pinst: Map<string, string[]>; sinst: Map<string, string[]> };
  groupNodes?: Map<string, string[]>;
}

const derivedCache = new WeakMap<Snapshot, Derived>();

function derived(s: Snapshot): Derived {
  const cached = derivedCache.get(s);
  if (cached && cached.serial === s.serial && cached.cluster === s.cluster) return cached;
  const c = s.cluster;
  const d: Derived = {
    serial: s.serial,
    cluster: c,
    be: Object.freeze(fillDict(BEC_DEFAULTS, c.beparams['default'])),
    nic: Object.freeze(fillDict(NICC_DEFAULTS, c.nicparams['default'])),
    nd: Object.freeze(fillDict(NDC_DEFAULTS, c.ndparams)),
    ipolicy: deepFreeze(fillIPolicy(IPOLICY_DEFAULTS, c.ipolicy)),
    diskparams: deepFreeze(fillDiskParams(DISK_DT_DEFAULTS, c.diskparams)),
    hvCluster: new Map(),
    hvInstBase: new Map(),
    groupNd: new Map(),
  };
  derivedCache.set(s, d);
  return d;
}

function memo<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** The cluster's hvparams for one hypervisor, over Ganeti's defaults. */
function clusterHv(d: Derived, hv: string): Readonly<Params> {
  return memo(d.hvCluster, hv, () => Object.freeze(fillDict(HVC_DEFAULTS[hv], d.cluster.hvparams[hv])));
}

/** Cluster ⊕ os_hvp for an instance's hypervisor and OS, without the globals. */
function instHvBase(d: Derived, hv: string, os: string): Readonly<Params> {
  return memo(d.hvInstBase, `${hv}\n${os}`, () =>
    Object.freeze(fillDict(clusterHv(d, hv), d.cluster.os_hvp[os]?.[hv], HVC_GLOBALS)));
}

function groupNdParams(d: Derived, group: NodeGroup): Readonly<Params> {
  return memo(d.groupNd, group.uuid, () => Object.freeze(fillDict(d.nd, group.ndparams)));
}

function nodeUuids(s: Snapshot, d: Derived): string[] {
  return (d.nodeUuids ??= [...s.nodes.keys()]);
}

/** Primary and secondary instance names per node uuid, nice-sorted. */
function instIndex(s: Snapshot, d: Derived): NonNullable<Derived['instIndex']> {
  if (d.instIndex) return d.instIndex;
  const pinst = new Map<string, string[]>();
  const sinst = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, node: string, name: string): void => {
    memo(m, node, () => []).push(name);
  };
  for (const inst of s.instances.values()) {
    add(pinst, inst.primary_node, inst.name);
    for (const sn of inst.secondary_nodes) add(sinst, sn, inst.name);
  }
  for (const m of [pinst, sinst]) for (const [k, v] of m) m.set(k, niceSort(v));
  return (d.instIndex = { pinst, sinst });
}

function groupNodeNames(s: Snapshot, d: Derived, groupUuid: string): string[] {
  if (!d.groupNodes) {
    const m = new Map<string, string[]>();
    for (const n of s.nodes.values()) memo(m, n.group, () => []).push(n.name);
    for (const [k, v] of m) m.set(k, niceSort(v));
    d.groupNodes = m;
  }
  return d.groupNodes.get(groupUuid) ?? [];
}

const nodeName = (s: Snapshot, uuid: string): string | null => s.nodes.get(uuid)?.name ?? null;

/**
 * A node's runtime report if Ganeti would have asked it: offline nodes are
 * never contacted, and a missing report means the node did not answer.
 */
function usableRuntime(s: Snapshot, nodeUuid: string): NodeRuntime | undefined {
  const node = s.nodes.get(nodeUuid);
  return node && !node.offline ? s.liveRuntime(nodeUuid) : undefined;
}

// ---------------------------------------------------------------------------
// Instances.

/** What the hypervisors say about one instance (Ganeti's `Runtime`). */
export type InstanceLive =
  | { kind: 'nodata' }                      // primary unreachable, not seen elsewhere
  | { kind: 'absent' }                      // primary answered; instance not there
  | { kind: 'present'; rt: InstanceRuntime; onPrimary: boolean };

/**
 * Whether a hypervisor would list the instance. A stopped or crashed guest has
 * no process, so Ganeti's all-instances-info RPC would not mention it; a guest
 * shut down from inside (user_down) is still listed, in the shutdown state.
 */
function listedByHypervisor(rt: NodeRuntime | undefined, name: string): InstanceRuntime | undefined {
  if (!rt || !Object.hasOwn(rt.instances, name)) return undefined;
  const ir = rt.instances[name]!;
  return ir.state === 'stopped' || ir.state === 'crashed' ? undefined : ir;
}

/** Query/Instance.hs getInstanceInfo: the primary first, then any node. */
function instanceLive(s: Snapshot, d: Derived, inst: Instance): InstanceLive {
  const primary = usableRuntime(s, inst.primary_node);
  const here = listedByHypervisor(primary, inst.name);
  if (here) return { kind: 'present', rt: here, onPrimary: true };
  for (const uuid of nodeUuids(s, d)) {
    if (uuid === inst.primary_node) continue;
    const there = listedByHypervisor(usableRuntime(s, uuid), inst.name);
    if (there) return { kind: 'present', rt: there, onPrimary: false };
  }
  return primary ? { kind: 'absent' } : { kind: 'nodata' };
}

/** Query/Instance.hs determineInstanceStatus (≡ query.py _GetInstStatus). */
function instanceStatus(s: Snapshot, inst: Instance, live: InstanceLive, hv: Readonly<Params>): string {
  if (s.nodes.get(inst.primary_node)?.offline) return 'ERROR_nodeoffline';
  const up = inst.admin_state === 'up';
  const userShutdown = s.cluster.enabled_user_shutdown;
  switch (live.kind) {
    case 'nodata':
      return 'ERROR_nodedown';
    case 'present': {
      if (!live.onPrimary) return 'ERROR_wrongnode';
      if (live.rt.state !== 'user_down') return up ? 'running' : 'ERROR_up';
      // KVM reports user shutdowns only with its user_shutdown parameter on.
      const allowDown = userShutdown && (inst.hypervisor !== 'kvm' || hv['user_shutdown'] === true);
      return up ? (allowDown ? 'USER_down' : 'ERROR_down') : 'ADMIN_down';
    }
    case 'absent':
      if (up) return 'ERROR_down';
      if (inst.admin_state === 'offline') return 'ADMIN_offline';
      return inst.admin_state_source === 'user' && userShutdown ? 'USER_down' : 'ADMIN_down';
  }
}

/** Space used on a node per disk (Query/Instance.hs getDiskSizeRequirements). */
export function diskUsage(inst: Instance): number {
  let total = 0;
  for (const disk of inst.disks) {
    switch (disk.dev_type) {
      case 'diskless': case 'blockdev': break;
      case 'drbd': total += disk.size + DRBD_META_SIZE; break;
      default: total += disk.size;
    }
  }
  return total;
}

/** An instance's derived facts: the bulk dict shows them, query2 (rapi/query) filters on them. */
export interface InstanceFacts {
  readonly nics: readonly Readonly<Params>[];  // filled nicparams, one per NIC
  readonly hv: Readonly<Params>;               // filled hvparams
  readonly live: InstanceLive;
  readonly status: string;
}

interface InstCtx extends InstanceFacts {
  s: Snapshot;
  inst: Instance;
}

const liveRt = (c: InstCtx): InstanceRuntime | undefined => (c.live.kind === 'present' ? c.live.rt : undefined);

/** A NIC's bridge: its link in bridged mode, none otherwise (filled nicparams). */
export const nicBridge = (p: Readonly<Params>): unknown => (p['mode'] === 'bridged' ? p['link'] : null);

const INSTANCE_GETTERS: Getters<IField, InstCtx> = {
  'name': (c) => c.inst.name,
  'admin_state': (c) => c.inst.admin_state,
  'os': (c) => c.inst.os,
  'pnode': (c) => nodeName(c.s, c.inst.primary_node),
  'snodes': (c) => c.inst.secondary_nodes.map((u) => nodeName(c.s, u)).filter((n) => n !== null),
  'disk_template': (c) => c.inst.disk_template,
  'nic.ips': (c) => c.inst.nics.map((n) => n.ip),
  'nic.macs': (c) => c.inst.nics.map((n) => n.mac),
  'nic.modes': (c) => c.nics.map((p) => p['mode']),
  'nic.uuids': (c) => c.inst.nics.map((n) => n.uuid),
  'nic.names': (c) => c.inst.nics.map((n) => n.name),
  'nic.links': (c) => c.nics.map((p) => p['link']),
  'nic.networks': (c) => c.inst.nics.map((n) => n.network),
  'nic.networks.names': (c) => c.inst.nics.map((n) => (n.network ? c.s.networks.get(n.network)?.name ?? null : null)),
  'nic.bridges': (c) => c.nics.map(nicBridge),
  'network_port': (c) => c.inst.network_port,
  'disk.sizes': (c) => c.inst.disks.map((d) => d.size),
  'disk.spindles': (c) => c.inst.disks.map((d) => d.spindles),
  'disk_usage': (c) => diskUsage(c.inst),
  'disk.uuids': (c) => c.inst.disks.map((d) => d.uuid),
  'disk.names': (c) => c.inst.disks.map((d) => d.name),
  'beparams': (c) => {
    const be = instanceBeParams(c.s, c.inst);
    be['memory'] = be['maxmem'];  // rlib2 _UpdateBeparams compatibility shim
    return be;
  },
  'hvparams': (c) => c.hv,
  'oper_state': (c) => (c.live.kind === 'nodata' ? null : c.live.kind === 'present'),
  'oper_ram': (c) => liveRt(c)?.memory ?? null,
  'oper_vcpus': (c) => liveRt(c)?.vcpus ?? null,
  'status': (c) => c.status,
  'custom_hvparams': (c) => c.inst.hvparams,
  'custom_beparams': (c) => c.inst.beparams,
  'custom_nicparams': (c) => c.inst.nics.map((n) => n.nicparams),
  'ctime': (c) => c.inst.ctime,
  'mtime': (c) => c.inst.mtime,
  'uuid': (c) => c.inst.uuid,
  'serial_no': (c) => c.inst.serial_no,
  'tags': (c) => c.inst.tags,
};
const projectInstance = projector(I_FIELDS, INSTANCE_GETTERS);

const isEmpty = (p: Params): boolean => {
  for (const _ in p) return false;
  return true;
};

export function instanceFacts(s: Snapshot, inst: Instance): InstanceFacts {
  const d = derived(s);
  const base = instHvBase(d, inst.hypervisor, inst.os);
  // Most instances have no custom hvparams: share the frozen merged dict.
  const hv = isEmpty(inst.hvparams) ? base : fillDict(base, inst.hvparams, HVC_GLOBALS);
  const nics = inst.nics.map((n) => (isEmpty(n.nicparams) ? d.nic : fillDict(d.nic, n.nicparams)));
  const live = instanceLive(s, d, inst);
  return { nics, hv, live, status: instanceStatus(s, inst, live, hv) };
}

/** Filled backend parameters (objects.Cluster.FillBE), without rlib2's `memory` shim. */
export function instanceBeParams(s: Snapshot, inst: Instance): Params {
  return fillDict(derived(s).be, inst.beparams);
}

/** One instance as `/2/instances?bulk=1` and `/2/instances/<name>` show it. */
export function instanceDict(s: Snapshot, inst: Instance): Record<string, unknown> {
  return projectInstance({ s, inst, ...instanceFacts(s, inst) });
}

// ---------------------------------------------------------------------------
// Nodes.

export type NodeRoleLetter = 'M' | 'C' | 'D' | 'O' | 'R';

/** Config.hs getNodeRole: the first matching role wins. */
/** Cluster ⊕ group ⊕ node ndparams (Ganeti's FillND); null for a node without a group. */
export function nodeNdParams(s: Snapshot, node: Node): Params | null {
  const group = s.groups.get(node.group);
  return group ? fillDict(groupNdParams(derived(s), group), node.ndparams) : null;
}

export function nodeRole(s: Snapshot, node: Node): NodeRoleLetter {
  if (node.uuid === s.cluster.master_node) return 'M';
  if (node.master_candidate) return 'C';
  if (node.drained) return 'D';
  if (node.offline) return 'O';
  return 'R';
}

const ROLE_WORDS: Record<NodeRoleLetter, string> = {
  M: 'master', C: 'master-candidate', D: 'drained', O: 'offline', R: 'regular',
};

/** The word `/2/nodes/<name>/role` answers with. */
export function nodeRoleWord(s: Snapshot, node: Node): string {
  return ROLE_WORDS[nodeRole(s, node)];
}

interface NodeCtx {
  s: Snapshot;
  d: Derived;
  node: Node;
  rt: NodeRuntime | undefined;
}

/** A live value, or null when the node was not (or could not be) asked. */
const live = (key: 'dtotal' | 'dfree' | 'mtotal' | 'mnode' | 'mfree' | 'ctotal' | 'cnos' | 'cnodes' | 'csockets') =>
  (c: NodeCtx): number | null => c.rt?.[key] ?? null;

const pinst = (c: NodeCtx): string[] => instIndex(c.s, c.d).pinst.get(c.node.uuid) ?? [];
const sinst = (c: NodeCtx): string[] => instIndex(c.s, c.d).sinst.get(c.node.uuid) ?? [];

const NODE_GETTERS: Getters<NField, NodeCtx> = {
  'name': (c) => c.node.name,
  'offline': (c) => c.node.offline,
  'master_candidate': (c) => c.node.master_candidate,
  'drained': (c) => c.node.drained,
  'dtotal': live('dtotal'),
  'dfree': live('dfree'),
  // Spindles come from LVM physical volumes only; rapid's file-based storage
  // has none, so Ganeti's answer is "no data" even from a live node.
  'sptotal': () => null,
  'spfree': () => null,
  'mtotal': live('mtotal'),
  'mnode': live('mnode'),
  'mfree': live('mfree'),
  'pinst_cnt': (c) => pinst(c).length,
  'sinst_cnt': (c) => sinst(c).length,
  'ctotal': live('ctotal'),
  'cnos': live('cnos'),
  'cnodes': live('cnodes'),
  'csockets': live('csockets'),
  'pip': (c) => c.node.primary_ip,
  'sip': (c) => c.node.secondary_ip,
  'role': (c) => nodeRole(c.s, c.node),
  'pinst_list': pinst,
  'sinst_list': sinst,
  'master_capable': (c) => c.node.master_capable,
  'vm_capable': (c) => c.node.vm_capable,
  'ndparams': (c) => nodeNdParams(c.s, c.node),
  'group.uuid': (c) => c.node.group,
  'ctime': (c) => c.node.ctime,
  'mtime': (c) => c.node.mtime,
  'uuid': (c) => c.node.uuid,
  'serial_no': (c) => c.node.serial_no,
  'tags': (c) => c.node.tags,
};
const projectNode = projector(N_FIELDS, NODE_GETTERS);

/** One node as `/2/nodes?bulk=1` shows it. */
export function nodeDict(s: Snapshot, node: Node): Record<string, unknown> {
  return projectNode({ s, d: derived(s), node, rt: usableRuntime(s, node.uuid) });
}

/** One node as `/2/nodes/<name>` shows it: rlib2 adds the alias of `sip`. */
export function nodeDetail(s: Snapshot, node: Node): Record<string, unknown> {
  const out = nodeDict(s, node);
  out['secondary_ip'] = out['sip'];
  return out;
}

// ---------------------------------------------------------------------------
// Node groups.

interface GroupCtx {
  s: Snapshot;
  d: Derived;
  group: NodeGroup;
}

const GROUP_GETTERS: Getters<GField, GroupCtx> = {
  'alloc_policy': (c) => c.group.alloc_policy,
  'name': (c) => c.group.name,
  'node_cnt': (c) => groupNodeNames(c.s, c.d, c.group.uuid).length,
  // Ganeti 3.0 lists them in uuid order; rapid sorts names like everywhere else.
  'node_list': (c) => groupNodeNames(c.s, c.d, c.group.uuid),
  'ipolicy': (c) => fillIPolicy(c.d.ipolicy, c.group.ipolicy),
  'custom_ipolicy': (c) => c.group.ipolicy,
  // Per template, as objects.FillDiskParams (Haskell 3.0 merges shallowly and
  // would drop the cluster's values for any template the group customizes).
  'diskparams': (c) => fillDiskParams(c.d.diskparams, c.group.diskparams),
  'custom_diskparams': (c) => c.group.diskparams,
  'ndparams': (c) => groupNdParams(c.d, c.group),
  'custom_ndparams': (c) => c.group.ndparams,
  'ctime': (c) => c.group.ctime,
  'mtime': (c) => c.group.mtime,
  'uuid': (c) => c.group.uuid,
  'serial_no': (c) => c.group.serial_no,
  'tags': (c) => c.group.tags,
};
const projectGroup = projector(G_FIELDS, GROUP_GETTERS);

/** One node group as `/2/groups?bulk=1` and `/2/groups/<name>` show it. */
export function groupDict(s: Snapshot, group: NodeGroup): Record<string, unknown> {
  return projectGroup({ s, d: derived(s), group });
}

// ---------------------------------------------------------------------------
// Networks (Query/Network.hs).

interface NetworkCtx {
  s: Snapshot;
  net: Network;
  stats: PoolStats;
}

/** Pool statistics walk the whole map: computed once per network object. */
const statsCache = new WeakMap<Network, PoolStats>();

/**
 * Ganeti 3.0 lists [group, mode, link, vlan] per connected group ("-" for an
 * unset value), groups and instances in uuid order; rapid sorts by name as
 * in its other lists.
 */
const NETWORK_GETTERS: Getters<NetField, NetworkCtx> = {
  'name': (c) => c.net.name,
  'network': (c) => c.net.network,
  'gateway': (c) => c.net.gateway,
  'network6': (c) => c.net.network6,
  'gateway6': (c) => c.net.gateway6,
  'mac_prefix': (c) => c.net.mac_prefix,
  'free_count': (c) => c.stats.free_count,
  'reserved_count': (c) => c.stats.reserved_count,
  'map': (c) => c.stats.map,
  'group_list': (c) => {
    const byName = new Map<string, unknown[]>();
    for (const g of c.s.groups.values()) {
      const p = g.networks[c.net.uuid];
      if (p) byName.set(g.name, [g.name, p['mode'] ?? '-', p['link'] ?? '-', p['vlan'] ?? '-']);
    }
    return niceSort(byName.keys()).map((n) => byName.get(n));
  },
  'inst_list': (c) => niceSort([...c.s.instances.values()]
    .filter((i) => i.nics.some((n) => n.network === c.net.uuid)).map((i) => i.name)),
  'external_reservations': (c) => c.stats.external_reservations,
  'ctime': (c) => c.net.ctime,
  'mtime': (c) => c.net.mtime,
  'uuid': (c) => c.net.uuid,
  'serial_no': (c) => c.net.serial_no,
  'tags': (c) => c.net.tags,
};
const projectNetwork = projector(NET_FIELDS, NETWORK_GETTERS);

/** One network as `/2/networks?bulk=1` and `/2/networks/<name>` show it. */
export function networkDict(s: Snapshot, net: Network): Record<string, unknown> {
  let stats = statsCache.get(net);
  if (!stats) statsCache.set(net, (stats = poolStats(net)));
  return projectNetwork({ s, net, stats });
}

// ---------------------------------------------------------------------------
// Cluster (/2/info).

/** Haskell's `[show (finiteBitSize Int) ++ "bits", System.Info.arch]`. */
const ARCHITECTURE: readonly string[] = Object.freeze([
  /64/.test(processArch) || processArch === 's390x' ? '64bits' : '32bits',
  machine(),
]);

interface InfoCtx {
  s: Snapshot;
  d: Derived;
  c: Cluster;
  rapidVersion: string;
}

const mapValues = <T, U>(o: Record<string, T>, f: (v: T) => U): Record<string, U> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

/** The same value for every data collector, keyed by collector name. */
const perCollector = (v: unknown): Record<string, unknown> =>
  Object.fromEntries(DATA_COLLECTOR_NAMES.map((n) => [n, v]));

const INFO_GETTERS: Getters<InfoField, InfoCtx> = {
  'software_version': () => SOFTWARE_VERSION,
  'protocol_version': () => PROTOCOL_VERSION,
  'config_version': () => CONFIG_VERSION,
  'os_api_version': () => OS_API_VERSION,
  'export_version': () => EXPORT_VERSION,
  'vcs_version': (x) => `rapid-${x.rapidVersion}`,
  'architecture': () => ARCHITECTURE,
  'name': (x) => x.c.name,
  'master': (x) => nodeName(x.s, x.c.master_node),
  'default_hypervisor': (x) => x.c.enabled_hypervisors[0] ?? null,
  'enabled_hypervisors': (x) => x.c.enabled_hypervisors,
  'hvparams': (x) => Object.fromEntries(x.c.enabled_hypervisors.map((hv) => [hv, clusterHv(x.d, hv)])),
  'os_hvp': (x) => x.c.os_hvp,
  'beparams': (x) => ({ ...mapValues(x.c.beparams, (p) => fillDict(BEC_DEFAULTS, p)), default: x.d.be }),
  'osparams': (x) => x.c.osparams,
  'ipolicy': (x) => x.d.ipolicy,
  'nicparams': (x) => ({ ...mapValues(x.c.nicparams, (p) => fillDict(NICC_DEFAULTS, p)), default: x.d.nic }),
  'ndparams': (x) => x.d.nd,
  'diskparams': (x) => x.d.diskparams,
  'candidate_pool_size': (x) => x.c.candidate_pool_size,
  'max_running_jobs': (x) => x.c.max_running_jobs,
  'max_tracked_jobs': (x) => x.c.max_tracked_jobs,
  'mac_prefix': (x) => x.c.mac_prefix,
  'master_netdev': (x) => x.c.master_netdev,
  'master_netmask': (x) => x.c.master_netmask,
  // Fields rapid does not model get the value Ganeti's UpgradeConfig gives.
  'use_external_mip_script': () => false,
  'volume_group_name': (x) => x.c.volume_group_name,
  'drbd_usermode_helper': (x) => x.c.drbd_usermode_helper,
  'file_storage_dir': (x) => x.c.file_storage_dir,
  'shared_file_storage_dir': (x) => x.c.shared_file_storage_dir,
  'gluster_storage_dir': () => DEFAULT_GLUSTER_STORAGE_DIR,
  'maintain_node_health': (x) => x.c.maintain_node_health,
  'ctime': (x) => x.c.ctime,
  'mtime': (x) => x.c.mtime,
  'uuid': (x) => x.c.uuid,
  'tags': (x) => x.c.tags,
  'uid_pool': (x) => x.c.uid_pool,
  'default_iallocator': (x) => x.c.default_iallocator,
  'default_iallocator_params': (x) => x.c.default_iallocator_params,
  'reserved_lvs': (x) => x.c.reserved_lvs,
  'primary_ip_version': (x) => (x.c.primary_ip_family === AF_INET6 ? 6 : 4),
  'prealloc_wipe_disks': (x) => x.c.prealloc_wipe_disks,
  'hidden_os': (x) => x.c.hidden_os,
  'blacklisted_os': (x) => x.c.blacklisted_os,
  'enabled_disk_templates': (x) => x.c.enabled_disk_templates,
  'install_image': () => '',
  'instance_communication_network': () => '',
  'zeroing_image': () => '',
  'compression_tools': () => IEC_DEFAULT_TOOLS,
  'enabled_user_shutdown': (x) => x.c.enabled_user_shutdown,
  'enabled_data_collectors': () => perCollector(true),
  'data_collector_interval': () => perCollector(DATA_COLLECTOR_INTERVAL_US),
  // rapid never manages the nodes' SSH keys.
  'modify_ssh_setup': () => false,
  'ssh_key_type': () => SSH_DEFAULT_KEY_TYPE,
  'ssh_key_bits': () => SSH_DEFAULT_KEY_BITS,
};
const projectInfo = projector(INFO_FIELDS, INFO_GETTERS);

/**
 * `/2/info`: luxid's QueryClusterInfo keys in order, rlib2's aliases
 * `vg_name` / `drbd_helper`, then rapid's own `rapid_version`.
 */
export function clusterInfo(s: Snapshot, rapidVersion: string): Record<string, unknown> {
  const out = projectInfo({ s, d: derived(s), c: s.cluster, rapidVersion });
  for (const [key, alias] of Object.entries(INFO_ALIASES)) out[alias] = out[key];
  out['rapid_version'] = rapidVersion;
  return out;
}
