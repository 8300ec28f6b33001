// The query2 field tables (query.py _Build*Fields): per resource, every field's
// name, title, kind and doc exactly as Ganeti 3.0's query.py declares them,
// and a getter that reads one row. Values follow the Haskell field getters
// that serve 3.0's queries (src/Ganeti/Query/*.hs); where the bulk RAPI dicts
// show the same fact, the value comes from rapi/views.ts.
import type { Instance, Network, Node, NodeGroup, Params } from '../../src/model.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { JobRecord } from '../../jobs/store.ts';
import { calcStatus, FINALIZED } from '../../jobs/status.ts';
import { BES_PARAMETER_TYPES, HVS_PARAMETER_TYPES, NDS_PARAMETER_TYPES, type VType } from '../../jobs/params.ts';
import { MAX_DISKS, MAX_NICS } from '../../jobs/ht.ts';
import { HVC_GLOBALS } from '../../src/defaults.ts';
import { filledOsParams } from '../../src/fill.ts';
import {
  diskUsage, groupDict, instanceBeParams, instanceFacts, networkDict, niceSort, nicBridge, nodeDict, nodeRole,
  type InstanceFacts,
} from '../views.ts';
import { Abnormal, type Field, type FieldDef, type FieldKind, type FieldTable } from '../../src/qlang/field.ts';

export { Abnormal, RS_NORMAL, RS_UNKNOWN, type Field, type FieldDef, type FieldKind, type FieldTable } from '../../src/qlang/field.ts';
const { NODATA, UNAVAIL, OFFLINE } = Abnormal;

type Flags = Pick<Field<unknown>, 'hostname' | 'timestamp'>;

function fld<R>(name: string, title: string, kind: FieldKind, doc: string, get: (row: R) => unknown, flags: Flags = {}): Field<R> {
  return { def: { name, title, kind, doc }, get, ...flags };
}

/** query._PrepareFieldList: a table by name, aliases sharing their target's definition. */
function table<R>(fields: Field<R>[], aliases: [string, string][] = []): FieldTable<R> {
  const out = new Map(fields.map((f) => [f.def.name, f]));
  for (const [alias, target] of aliases) {
    const f = out.get(target)!;
    out.set(alias, { ...f, def: { ...f.def, name: alias } });
  }
  return out;
}

/** query._GetQueryFields: a field nobody defines, answered with RS_UNKNOWN. */
export function unknownField(name: string): FieldDef {
  return { name, title: name, kind: 'unknown', doc: `Unknown field '${name}'` };
}

/** A value that may be missing: null/undefined becomes `missing`. */
const orElse = (v: unknown, missing: Abnormal): unknown => (v === null || v === undefined ? missing : v);

const SERIAL_DOC = (what: string) => `${what} object serial number, incremented on each modification`;

interface Stamped { ctime: number; mtime: number; uuid: string; serial_no: number; tags: string[] }

function timestampFields<R>(obj: (r: R) => Stamped): Field<R>[] {
  return [
    fld('ctime', 'CTime', 'timestamp', 'Creation timestamp', (r) => orElse(obj(r).ctime, UNAVAIL)),
    fld('mtime', 'MTime', 'timestamp', 'Modification timestamp', (r) => orElse(obj(r).mtime, UNAVAIL)),
  ];
}

/** utils.FormatOrdinal. */
function ordinal(n: number): string {
  const tens = n % 10;
  const suffix = n > 10 && n < 20 ? 'th' : tens === 1 ? 'st' : tens === 2 ? 'nd' : tens === 3 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------------------
// Parameter fields (be/*, hv/*, ndp/*): built from Ganeti's parameter tables.

/** query._VTToQFT. */
const VTYPE_KIND: Record<VType, FieldKind> = {
  'string': 'other', 'maybe-string': 'other', 'bool': 'bool', 'size': 'unit', 'int': 'number', 'float': 'float',
};

/** _constants.HVS_PARAMETER_TITLES. */
const HVS_PARAMETER_TITLES: Record<string, string> = {
  acpi: 'ACPI', boot_order: 'Boot_order', cdrom_image_path: 'CDROM_image_path', cpu_type: 'cpu_type',
  disk_type: 'Disk_type', initrd_path: 'Initrd_path', kernel_path: 'Kernel_path', nic_type: 'NIC_type',
  pae: 'PAE', pci_pass: 'pci_pass', vnc_bind_address: 'VNC_bind_address',
};

/** _constants.BES_PARAMETER_TYPES: rapid's table also accepts the legacy `memory` on input. */
const BES_QUERY_TYPES = Object.entries(BES_PARAMETER_TYPES).filter(([name]) => name !== 'memory');

/** _constants.BES_PARAMETER_TITLES. */
const BES_PARAMETER_TITLES: Record<string, string> = {
  auto_balance: 'Auto_balance', maxmem: 'ConfigMaxMem', minmem: 'ConfigMinMem', vcpus: 'ConfigVCPUs',
};

/** _constants.NDS_PARAMETER_TITLES. */
const NDS_PARAMETER_TITLES: Record<string, string> = {
  exclusive_storage: 'ExclusiveStorage', oob_program: 'OutOfBandProgram', ovs: 'OpenvSwitch',
  ovs_link: 'OpenvSwitchLink', ovs_name: 'OpenvSwitchName', spindle_count: 'SpindleCount',
};

function paramFields<R>(prefix: string, what: string, types: [string, VType][], titles: Record<string, string>,
  get: (row: R, name: string) => unknown): Field<R>[] {
  return types.map(([name, vtype]) =>
    fld(`${prefix}/${name}`, titles[name] ?? `${prefix}/${name}`, VTYPE_KIND[vtype], `The "${name}" ${what} parameter`,
      (r: R) => get(r, name)));
}

/** The ndp/* fields of nodes and groups, over their merged ndparams (null: unknown group). */
function ndFields<R>(ndparams: (row: R) => Params | null): Field<R>[] {
  return paramFields<R>('ndp', 'node', Object.entries(NDS_PARAMETER_TYPES), NDS_PARAMETER_TITLES, (r, name) => {
    const nd = ndparams(r);
    return nd === null ? UNAVAIL : orElse(nd[name], NODATA);
  });
}

// ---------------------------------------------------------------------------
// Primary instances per node group (no bulk dict shows them).

const groupInstCache = new WeakMap<Snapshot, { serial: number; byGroup: Map<string, string[]> }>();

/** The group's primary instances, nice-sorted; indexed once per configuration serial. */
function groupInstances(s: Snapshot, groupUuid: string): string[] {
  let hit = groupInstCache.get(s);
  if (!hit || hit.serial !== s.serial) {
    const byGroup = new Map<string, string[]>();
    for (const inst of s.instances.values()) {
      const group = s.nodes.get(inst.primary_node)?.group;
      if (!group) continue;
      const list = byGroup.get(group);
      if (list) list.push(inst.name);
      else byGroup.set(group, [inst.name]);
    }
    for (const [g, names] of byGroup) byGroup.set(g, niceSort(names));
    groupInstCache.set(s, (hit = { serial: s.serial, byGroup }));
  }
  return hit.byGroup.get(groupUuid) ?? [];
}

// ---------------------------------------------------------------------------
// Instances.

/** One instance being queried; its derived facts are computed on first use only. */
export class InstanceRow {
  private f: InstanceFacts | undefined;
  private b: Params | undefined;
  constructor(readonly s: Snapshot, readonly inst: Instance) {}
  get facts(): InstanceFacts {
    return (this.f ??= instanceFacts(this.s, this.inst));
  }
  get be(): Params {
    return (this.b ??= instanceBeParams(this.s, this.inst));
  }
}

const nodeName = (s: Snapshot, uuid: string): string | null => s.nodes.get(uuid)?.name ?? null;
const nodeGroup = (s: Snapshot, uuid: string): NodeGroup | undefined => {
  const node = s.nodes.get(uuid);
  return node && s.groups.get(node.group);
};
const networkName = (s: Snapshot, uuid: string | null): string | null => (uuid ? s.networks.get(uuid)?.name ?? null : null);

/** Query/Instance.hs getNicVlan: only openvswitch NICs have one. */
const nicVlan = (p: Readonly<Params>): unknown => (p['mode'] === 'openvswitch' ? p['vlan'] : null);

/** What the hypervisor reports for an instance, or why there is nothing. */
function liveValue(r: InstanceRow, key: 'memory' | 'vcpus'): unknown {
  const live = r.facts.live;
  if (live.kind === 'present') return live.rt[key];
  if (live.kind === 'absent') return UNAVAIL;
  return r.s.nodes.get(r.inst.primary_node)?.offline ? OFFLINE : NODATA;
}

/** objects.Cluster.SimpleFillOS. */
const instanceOsParams = (r: InstanceRow): Params => filledOsParams(r.s.cluster, r.inst.os, r.inst.osparams);

const STATUS_DOC = 'Instance status; "running" if instance is set to be running and actually is, "ADMIN_down" if '
  + 'instance is stopped and is not running, "ERROR_wrongnode" if instance running, but not on its designated '
  + 'primary node, "ERROR_up" if instance should be stopped, but is actually running, "ERROR_down" if instance '
  + 'should run, but doesn\'t, "ERROR_nodedown" if instance\'s primary node is down, "ERROR_nodeoffline" if '
  + 'instance\'s primary node is marked offline, "ADMIN_offline" if instance is offline and does not use dynamic, '
  + '"USER_down" if the user shutdown the instance resources';

function instanceNicFields(): Field<InstanceRow>[] {
  type R = InstanceRow;
  const each = (what: string) => `List containing each network interface's ${what}`;
  const fields: Field<R>[] = [
    fld('nic.count', 'NICs', 'number', 'Number of network interfaces', (r) => r.inst.nics.length),
    fld('nic.macs', 'NIC_MACs', 'other', each('MAC address'), (r) => r.inst.nics.map((n) => n.mac)),
    fld('nic.ips', 'NIC_IPs', 'other', each('IP address'), (r) => r.inst.nics.map((n) => n.ip)),
    fld('nic.names', 'NIC_Names', 'other', each('name'), (r) => r.inst.nics.map((n) => n.name)),
    fld('nic.uuids', 'NIC_UUIDs', 'other', each('UUID'), (r) => r.inst.nics.map((n) => n.uuid)),
    fld('nic.modes', 'NIC_modes', 'other', each('mode'), (r) => r.facts.nics.map((p) => p['mode'])),
    fld('nic.links', 'NIC_links', 'other', each('link'), (r) => r.facts.nics.map((p) => p['link'])),
    fld('nic.vlans', 'NIC_VLANs', 'other', each('VLAN'), (r) => r.facts.nics.map(nicVlan)),
    fld('nic.bridges', 'NIC_bridges', 'other', each('bridge'), (r) => r.facts.nics.map(nicBridge)),
    fld('nic.networks', 'NIC_networks', 'other', "List containing each interface's network",
      (r) => r.inst.nics.map((n) => n.network)),
    fld('nic.networks.names', 'NIC_networks_names', 'other', "List containing each interface's network",
      (r) => r.inst.nics.map((n) => networkName(r.s, n.network))),
  ];
  for (const i of range(MAX_NICS)) {
    const of = `of ${ordinal(i + 1)} network interface`;
    // A NIC that does not exist, or lacks the value, is "unavailable".
    const nic = (get: (r: R, i: number) => unknown) => (r: R) =>
      (i < r.inst.nics.length ? orElse(get(r, i), UNAVAIL) : UNAVAIL);
    fields.push(
      fld(`nic.ip/${i}`, `NicIP/${i}`, 'text', `IP address ${of}`, nic((r) => r.inst.nics[i]!.ip)),
      fld(`nic.mac/${i}`, `NicMAC/${i}`, 'text', `MAC address ${of}`, nic((r) => r.inst.nics[i]!.mac)),
      fld(`nic.name/${i}`, `NicName/${i}`, 'text', `Name address ${of}`, nic((r) => r.inst.nics[i]!.name)),
      fld(`nic.uuid/${i}`, `NicUUID/${i}`, 'text', `UUID address ${of}`, nic((r) => r.inst.nics[i]!.uuid)),
      fld(`nic.mode/${i}`, `NicMode/${i}`, 'text', `Mode ${of}`, nic((r) => r.facts.nics[i]!['mode'])),
      fld(`nic.link/${i}`, `NicLink/${i}`, 'text', `Link ${of}`, nic((r) => r.facts.nics[i]!['link'])),
      fld(`nic.bridge/${i}`, `NicBridge/${i}`, 'text', `Bridge ${of}`, nic((r) => nicBridge(r.facts.nics[i]!))),
      fld(`nic.vlan/${i}`, `NicVLAN/${i}`, 'text', `VLAN ${of}`, nic((r) => nicVlan(r.facts.nics[i]!))),
      fld(`nic.network/${i}`, `NicNetwork/${i}`, 'text', `Network ${of}`, nic((r) => r.inst.nics[i]!.network)),
      fld(`nic.network.name/${i}`, `NicNetworkName/${i}`, 'text', `Network name ${of}`,
        nic((r) => networkName(r.s, r.inst.nics[i]!.network))),
    );
  }
  return fields;
}

function instanceDiskFields(): Field<InstanceRow>[] {
  type R = InstanceRow;
  const fields: Field<R>[] = [
    fld('disk_usage', 'DiskUsage', 'unit', 'Total disk space used by instance on each of its nodes; this is not the '
      + 'disk size visible to the instance, but the usage on the node', (r) => diskUsage(r.inst)),
    fld('disk.count', 'Disks', 'number', 'Number of disks', (r) => r.inst.disks.length),
    fld('disk.sizes', 'Disk_sizes', 'other', 'List of disk sizes', (r) => r.inst.disks.map((d) => d.size)),
    fld('disk.spindles', 'Disk_spindles', 'other', 'List of disk spindles', (r) => r.inst.disks.map((d) => d.spindles)),
    fld('disk.names', 'Disk_names', 'other', 'List of disk names', (r) => r.inst.disks.map((d) => d.name)),
    fld('disk.uuids', 'Disk_UUIDs', 'other', 'List of disk UUIDs', (r) => r.inst.disks.map((d) => d.uuid)),
  ];
  for (const i of range(MAX_DISKS)) {
    const nth = `${ordinal(i + 1)} disk`;
    const disk = (key: 'size' | 'spindles' | 'name' | 'uuid') => (r: R) =>
      (i < r.inst.disks.length ? orElse(r.inst.disks[i]![key], UNAVAIL) : UNAVAIL);
    fields.push(
      fld(`disk.size/${i}`, `Disk/${i}`, 'unit', `Disk size of ${nth}`, disk('size')),
      fld(`disk.spindles/${i}`, `DiskSpindles/${i}`, 'number', `Spindles of ${nth}`, disk('spindles')),
      fld(`disk.name/${i}`, `DiskName/${i}`, 'text', `Name of ${nth}`, disk('name')),
      fld(`disk.uuid/${i}`, `DiskUUID/${i}`, 'text', `UUID of ${nth}`, disk('uuid')),
    );
  }
  return fields;
}

function instanceParamFields(): Field<InstanceRow>[] {
  type R = InstanceRow;
  return [
    fld('hvparams', 'HypervisorParameters', 'other', 'Hypervisor parameters (merged)', (r: R) => r.facts.hv),
    fld('beparams', 'BackendParameters', 'other', 'Backend parameters (merged)', (r: R) => r.be),
    fld('osparams', 'OpSysParameters', 'other', 'Operating system parameters (merged)', instanceOsParams),
    fld('custom_hvparams', 'CustomHypervisorParameters', 'other', 'Custom hypervisor parameters', (r: R) => r.inst.hvparams),
    fld('custom_beparams', 'CustomBackendParameters', 'other', 'Custom backend parameters', (r: R) => r.inst.beparams),
    fld('custom_osparams', 'CustomOpSysParameters', 'other', 'Custom operating system parameters', (r: R) => r.inst.osparams),
    fld('custom_nicparams', 'CustomNicParameters', 'other', 'Custom network interface parameters',
      (r: R) => r.inst.nics.map((n) => n.nicparams)),
    ...paramFields<R>('hv', 'hypervisor', Object.entries(HVS_PARAMETER_TYPES).filter(([n]) => !HVC_GLOBALS.includes(n)),
      HVS_PARAMETER_TITLES, (r, name) => orElse(r.facts.hv[name], UNAVAIL)),
    ...paramFields<R>('be', 'backend', BES_QUERY_TYPES, BES_PARAMETER_TITLES, (r, name) => orElse(r.be[name], NODATA)),
  ];
}

export const INSTANCE_FIELDS: FieldTable<InstanceRow> = table<InstanceRow>([
  fld('pnode', 'Primary_node', 'text', 'Primary node', (r) => orElse(nodeName(r.s, r.inst.primary_node), NODATA),
    { hostname: true }),
  fld('pnode.group', 'PrimaryNodeGroup', 'text', "Primary node's group",
    (r) => orElse(nodeGroup(r.s, r.inst.primary_node)?.name, NODATA)),
  fld('pnode.group.uuid', 'PrimaryNodeGroupUUID', 'text', "Primary node's group UUID",
    (r) => orElse(nodeGroup(r.s, r.inst.primary_node)?.uuid, NODATA)),
  fld('snodes', 'Secondary_Nodes', 'other', 'Secondary nodes; usually this will just be one node',
    (r) => r.inst.secondary_nodes.map((u) => nodeName(r.s, u))),
  fld('snodes.group', 'SecondaryNodesGroups', 'other', 'Node groups of secondary nodes',
    (r) => r.inst.secondary_nodes.map((u) => nodeGroup(r.s, u)?.name ?? null)),
  fld('snodes.group.uuid', 'SecondaryNodesGroupsUUID', 'other', 'Node group UUIDs of secondary nodes',
    (r) => r.inst.secondary_nodes.map((u) => nodeGroup(r.s, u)?.uuid ?? null)),
  fld('admin_state', 'InstanceState', 'text', 'Desired state of the instance', (r) => r.inst.admin_state),
  fld('admin_up', 'Autostart', 'bool', 'Desired state of the instance', (r) => r.inst.admin_state === 'up'),
  fld('admin_state_source', 'InstanceStateSource', 'text', 'Who last changed the desired state of the instance',
    (r) => r.inst.admin_state_source),
  // rapid keeps no separate "disks activated" flag.
  fld('disks_active', 'DisksActive', 'bool', 'Desired state of the instance disks', () => NODATA),
  fld('tags', 'Tags', 'other', 'Tags', (r) => r.inst.tags),
  // Console details come from the node's hypervisor, which rapid does not ask during queries.
  fld('console', 'Console', 'other', 'Instance console information',
    (r) => (r.s.nodes.get(r.inst.primary_node)?.offline ? OFFLINE : NODATA)),
  fld('forthcoming', 'Forthcoming', 'bool', 'Whether the Instance is forthcoming', (r) => Boolean(r.inst.forthcoming)),
  fld('disk_template', 'Disk_template', 'text', 'Instance disk template', (r) => r.inst.disk_template),
  fld('hypervisor', 'Hypervisor', 'text', 'Hypervisor name', (r) => r.inst.hypervisor),
  fld('name', 'Instance', 'text', 'Instance name', (r) => r.inst.name, { hostname: true }),
  fld('network_port', 'Network_port', 'other', 'Instance network port if available (e.g. for VNC console)',
    (r) => orElse(r.inst.network_port, UNAVAIL)),
  fld('os', 'OS', 'text', 'Operating system', (r) => r.inst.os),
  fld('serial_no', 'SerialNo', 'number', SERIAL_DOC('Instance'), (r) => r.inst.serial_no),
  fld('uuid', 'UUID', 'text', 'Instance UUID', (r) => r.inst.uuid),
  fld('oper_state', 'Running', 'bool', 'Actual state of instance',
    (r) => (r.facts.live.kind === 'nodata' ? NODATA : r.facts.live.kind === 'present')),
  fld('oper_ram', 'Memory', 'unit', 'Actual memory usage as seen by hypervisor', (r) => liveValue(r, 'memory')),
  fld('oper_vcpus', 'VCPUs', 'number', 'Actual number of VCPUs as seen by hypervisor', (r) => liveValue(r, 'vcpus')),
  fld('status', 'Status', 'text', STATUS_DOC, (r) => r.facts.status),
  ...instanceNicFields(),
  ...instanceParamFields(),
  ...instanceDiskFields(),
  ...timestampFields((r: InstanceRow) => r.inst),
], [
  ['vcpus', 'be/vcpus'], ['be/memory', 'be/maxmem'], ['sda_size', 'disk.size/0'], ['sdb_size', 'disk.size/1'],
  ['ip', 'nic.ip/0'], ['mac', 'nic.mac/0'], ['bridge', 'nic.bridge/0'], ['nic_mode', 'nic.mode/0'],
  ['nic_link', 'nic.link/0'], ['nic_network', 'nic.network/0'],
]);

// ---------------------------------------------------------------------------
// Nodes.

/** One node being queried; its bulk dict (rapi/views.ts) is built on first use. */
/** A config object being queried, with its bulk RAPI dict (rapi/views.ts) built on first use. */
abstract class DictRow<T> {
  private d: Record<string, unknown> | undefined;
  constructor(readonly s: Snapshot, protected readonly obj: T, private readonly build: (s: Snapshot, o: T) => Record<string, unknown>) {}
  get dict(): Record<string, unknown> {
    return (this.d ??= this.build(this.s, this.obj));
  }
}

export class NodeRow extends DictRow<Node> {
  constructor(s: Snapshot, readonly node: Node) { super(s, node, nodeDict); }
}

/** A value the node reports: offline nodes are not asked, silent ones give no data. */
const nodeLive = (key: string) => (r: NodeRow): unknown =>
  orElse(r.dict[key], r.node.offline ? OFFLINE : NODATA);

export const NODE_FIELDS: FieldTable<NodeRow> = table<NodeRow>([
  fld('pip', 'PrimaryIP', 'text', 'Primary IP address', (r) => r.node.primary_ip),
  fld('sip', 'SecondaryIP', 'text', 'Secondary IP address', (r) => r.node.secondary_ip),
  fld('tags', 'Tags', 'other', 'Tags', (r) => r.node.tags),
  fld('master', 'IsMaster', 'bool', 'Whether node is master', (r) => r.node.uuid === r.s.cluster.master_node),
  fld('group', 'Group', 'text', 'Node group', (r) => orElse(r.s.groups.get(r.node.group)?.name, NODATA)),
  fld('group.uuid', 'GroupUUID', 'text', 'UUID of node group', (r) => r.node.group),
  // Without an out-of-band program Ganeti cannot tell; rapid never powers nodes off.
  fld('powered', 'Powered', 'bool', 'Whether node is thought to be powered on', (r) => {
    const nd = r.dict['ndparams'] as Params | null;
    return nd === null ? NODATA : nd['oob_program'] ? true : UNAVAIL;
  }),
  fld('ndparams', 'NodeParameters', 'other', 'Merged node parameters', (r) => orElse(r.dict['ndparams'], NODATA)),
  fld('custom_ndparams', 'CustomNodeParameters', 'other', 'Custom node parameters', (r) => r.node.ndparams),
  // Declared "for parity" in 3.0 and never filled (Query/Node.hs).
  fld('hv_state', 'HypervisorState', 'other', 'Hypervisor state', () => UNAVAIL),
  fld('disk_state', 'DiskState', 'other', 'Disk state', () => UNAVAIL),
  ...ndFields((r: NodeRow) => r.dict['ndparams'] as Params | null),
  fld('role', 'Role', 'text', 'Node role; "M" for master, "C" for master candidate, "R" for regular, "D" for drained, '
    + '"O" for offline', (r) => nodeRole(r.s, r.node)),
  fld('pinst_cnt', 'Pinst', 'number', 'Number of instances with this node as primary',
    (r) => (r.dict['pinst_list'] as string[]).length),
  fld('pinst_list', 'PriInstances', 'other', 'List of instances with this node as primary', (r) => r.dict['pinst_list']),
  fld('sinst_cnt', 'Sinst', 'number', 'Number of instances with this node as secondary',
    (r) => (r.dict['sinst_list'] as string[]).length),
  fld('sinst_list', 'SecInstances', 'other', 'List of instances with this node as secondary', (r) => r.dict['sinst_list']),
  fld('drained', 'Drained', 'bool', 'Whether node is drained', (r) => r.node.drained),
  fld('master_candidate', 'MasterC', 'bool', 'Whether node is a master candidate', (r) => r.node.master_candidate),
  fld('master_capable', 'MasterCapable', 'bool', 'Whether node can become a master candidate', (r) => r.node.master_capable),
  fld('name', 'Node', 'text', 'Node name', (r) => r.node.name, { hostname: true }),
  fld('offline', 'Offline', 'bool', 'Whether node is marked offline', (r) => r.node.offline),
  fld('serial_no', 'SerialNo', 'number', SERIAL_DOC('Node'), (r) => r.node.serial_no),
  fld('uuid', 'UUID', 'text', 'Node UUID', (r) => r.node.uuid),
  fld('vm_capable', 'VMCapable', 'bool', 'Whether node can host instances', (r) => r.node.vm_capable),
  // Node workers report no boot id.
  fld('bootid', 'BootID', 'text', 'Random UUID renewed for each system reboot, can be used for detecting reboots by '
    + 'tracking changes', nodeLive('bootid')),
  fld('cnodes', 'CNodes', 'number', 'Number of NUMA domains on node (if exported by hypervisor)', nodeLive('cnodes')),
  fld('cnos', 'CNOs', 'number', 'Number of logical processors used by the node OS (dom0 for Xen)', nodeLive('cnos')),
  fld('csockets', 'CSockets', 'number', 'Number of physical CPU sockets (if exported by hypervisor)', nodeLive('csockets')),
  fld('ctotal', 'CTotal', 'number', 'Number of logical processors', nodeLive('ctotal')),
  fld('dfree', 'DFree', 'unit', 'Available storage space in storage unit', nodeLive('dfree')),
  fld('dtotal', 'DTotal', 'unit', 'Total storage space in storage unit used for instance disk allocation', nodeLive('dtotal')),
  fld('spfree', 'SpFree', 'number', 'Available spindles in volume group (exclusive storage only)', nodeLive('spfree')),
  fld('sptotal', 'SpTotal', 'number', 'Total spindles in volume group (exclusive storage only)', nodeLive('sptotal')),
  fld('mfree', 'MFree', 'unit', 'Memory available for instance allocations', nodeLive('mfree')),
  fld('mnode', 'MNode', 'unit', 'Amount of memory used by node (dom0 for Xen)', nodeLive('mnode')),
  fld('mtotal', 'MTotal', 'unit', 'Total amount of memory of physical machine', nodeLive('mtotal')),
  ...timestampFields((r: NodeRow) => r.node),
]);

// ---------------------------------------------------------------------------
// Node groups.

export class GroupRow extends DictRow<NodeGroup> {
  constructor(s: Snapshot, readonly group: NodeGroup) { super(s, group, groupDict); }
}

export const GROUP_FIELDS: FieldTable<GroupRow> = table<GroupRow>([
  fld('alloc_policy', 'AllocPolicy', 'text', 'Allocation policy for group', (r) => r.group.alloc_policy),
  fld('name', 'Group', 'text', 'Group name', (r) => r.group.name),
  fld('serial_no', 'SerialNo', 'number', SERIAL_DOC('Group'), (r) => r.group.serial_no),
  fld('uuid', 'UUID', 'text', 'Group UUID', (r) => r.group.uuid),
  fld('node_cnt', 'Nodes', 'number', 'Number of nodes', (r) => r.dict['node_cnt']),
  fld('node_list', 'NodeList', 'other', 'List of nodes', (r) => r.dict['node_list']),
  fld('pinst_cnt', 'Instances', 'number', 'Number of primary instances', (r) => groupInstances(r.s, r.group.uuid).length),
  fld('pinst_list', 'InstanceList', 'other', 'List of primary instances', (r) => groupInstances(r.s, r.group.uuid)),
  fld('tags', 'Tags', 'other', 'Tags', (r) => r.group.tags),
  fld('ipolicy', 'InstancePolicy', 'other', 'Instance policy limitations (merged)', (r) => r.dict['ipolicy']),
  fld('custom_ipolicy', 'CustomInstancePolicy', 'other', 'Custom instance policy limitations', (r) => r.group.ipolicy),
  fld('custom_ndparams', 'CustomNDParams', 'other', 'Custom node parameters', (r) => r.group.ndparams),
  fld('ndparams', 'NDParams', 'other', 'Node parameters', (r) => r.dict['ndparams']),
  fld('diskparams', 'DiskParameters', 'other', 'Disk parameters (merged)', (r) => r.dict['diskparams']),
  fld('custom_diskparams', 'CustomDiskParameters', 'other', 'Custom disk parameters', (r) => r.group.diskparams),
  ...ndFields((r: GroupRow) => r.dict['ndparams'] as Params),
  ...timestampFields((r: GroupRow) => r.group),
]);

// ---------------------------------------------------------------------------
// Networks.

export class NetworkRow extends DictRow<Network> {
  constructor(s: Snapshot, readonly net: Network) { super(s, net, networkDict); }
}

export const NETWORK_FIELDS: FieldTable<NetworkRow> = table<NetworkRow>([
  fld('tags', 'Tags', 'other', 'Tags', (r) => r.net.tags),
  fld('name', 'Network', 'text', 'Name', (r) => r.net.name),
  fld('network', 'Subnet', 'text', 'IPv4 subnet', (r) => r.net.network),
  fld('gateway', 'Gateway', 'other', 'IPv4 gateway', (r) => orElse(r.net.gateway, UNAVAIL)),
  fld('network6', 'IPv6Subnet', 'other', 'IPv6 subnet', (r) => orElse(r.net.network6, UNAVAIL)),
  fld('gateway6', 'IPv6Gateway', 'other', 'IPv6 gateway', (r) => orElse(r.net.gateway6, UNAVAIL)),
  fld('mac_prefix', 'MacPrefix', 'other', 'MAC address prefix', (r) => orElse(r.net.mac_prefix, UNAVAIL)),
  fld('serial_no', 'SerialNo', 'number', SERIAL_DOC('Network'), (r) => r.net.serial_no),
  fld('uuid', 'UUID', 'text', 'Network UUID', (r) => r.net.uuid),
  fld('group_cnt', 'NodeGroups', 'number', 'Number of nodegroups', (r) => (r.dict['group_list'] as unknown[]).length),
  fld('group_list', 'GroupList', 'other', 'List of nodegroups (group name, NIC mode, NIC link)', (r) => r.dict['group_list']),
  fld('inst_cnt', 'Instances', 'number', 'Number of instances', (r) => (r.dict['inst_list'] as unknown[]).length),
  fld('inst_list', 'InstanceList', 'other', 'List of instances', (r) => r.dict['inst_list']),
  fld('free_count', 'FreeCount', 'number', 'Number of available addresses', (r) => r.dict['free_count']),
  fld('reserved_count', 'ReservedCount', 'number', 'Number of reserved addresses', (r) => r.dict['reserved_count']),
  fld('map', 'Map', 'text', 'Actual mapping', (r) => r.dict['map']),
  fld('external_reservations', 'ExternalReservations', 'text', 'External reservations',
    (r) => r.dict['external_reservations']),
  ...timestampFields((r: NetworkRow) => r.net),
]);

// ---------------------------------------------------------------------------
// Jobs.

export interface JobRow {
  id: number;
  /** Null: no such job (every other field is then unavailable). */
  rec: JobRecord | null;
  archived: boolean;
}

/** query._JobUnavail: a job that could not be loaded has only its id. */
const ofJob = (get: (rec: JobRecord, row: JobRow) => unknown) => (r: JobRow): unknown => (r.rec ? get(r.rec, r) : UNAVAIL);

/** JQueue.hs calcJobPriority: the highest (lowest number) among unfinished opcodes. */
function jobPriority(rec: JobRecord): number {
  const open = rec.ops.filter((_, i) => !FINALIZED.has(rec.opstatus[i]!)).map((op) => Number(op.priority ?? 0));
  return open.length ? Math.min(...open) : 0;
}

const tsDoc = (what: string) => `${what} (tuple containing seconds and microseconds)`;

export const JOB_FIELDS: FieldTable<JobRow> = table<JobRow>([
  fld('id', 'ID', 'number', 'Job ID', (r) => r.id),
  fld('status', 'Status', 'text', 'Job status', ofJob((rec) => calcStatus(rec.opstatus))),
  fld('priority', 'Priority', 'number', 'Current job priority (19 to -20)', ofJob(jobPriority)),
  fld('archived', 'Archived', 'bool', 'Whether job is archived', ofJob((_, r) => r.archived)),
  fld('ops', 'OpCodes', 'other', 'List of all opcodes', ofJob((rec) => rec.ops)),
  fld('opresult', 'OpCode_result', 'other', 'List of opcodes results', ofJob((rec) => rec.opresult)),
  fld('opstatus', 'OpCode_status', 'other', 'List of opcodes status', ofJob((rec) => rec.opstatus)),
  fld('oplog', 'OpCode_log', 'other', 'List of opcode output logs', ofJob((rec) => rec.oplog)),
  // rapid's job records keep start and end times per job, not per opcode.
  fld('opstart', 'OpCode_start', 'other', 'List of opcode start timestamps (before acquiring locks)', () => UNAVAIL),
  fld('opexec', 'OpCode_exec', 'other', 'List of opcode execution start timestamps (after acquiring locks)', () => UNAVAIL),
  fld('opend', 'OpCode_end', 'other', 'List of opcode execution end timestamps', () => UNAVAIL),
  fld('oppriority', 'OpCode_prio', 'other', 'List of opcode priorities', ofJob((rec) => rec.ops.map((op) => op.priority ?? 0))),
  fld('summary', 'Summary', 'other', 'List of per-opcode summaries', ofJob((rec) => rec.summary)),
  fld('received_ts', 'Received', 'other', tsDoc('Timestamp of when job was received'),
    ofJob((rec) => orElse(rec.received_ts, UNAVAIL)), { timestamp: true }),
  fld('start_ts', 'Start', 'other', tsDoc('Timestamp of job start'),
    ofJob((rec) => orElse(rec.start_ts, UNAVAIL)), { timestamp: true }),
  fld('end_ts', 'End', 'other', tsDoc('Timestamp of job end'),
    ofJob((rec) => orElse(rec.end_ts, UNAVAIL)), { timestamp: true }),
]);

/** Job fields whose value needs the job's record (all but the id). */
export const JOB_RECORD_FIELDS: ReadonlySet<string> = new Set([...JOB_FIELDS.keys()].filter((n) => n !== 'id'));

// ---------------------------------------------------------------------------
// Exports, locks and job filter rules.

export interface ExportRow {
  node: Node;
  /** The export's name, or why the node could not list its exports. */
  export: string | Abnormal;
}

export const EXPORT_FIELDS: FieldTable<ExportRow> = table<ExportRow>([
  fld('node', 'Node', 'text', 'Node name', (r) => r.node.name, { hostname: true }),
  fld('export', 'Export', 'text', 'Export name', (r) => r.export),
]);

export interface LockRow {
  name: string;
  /** 'exclusive', 'shared', or null when nobody holds it. */
  mode: 'exclusive' | 'shared' | null;
  owner: string[];
  /** [mode, [owner]] per waiting job (Query/Locks.hs getPending). */
  pending: ['exclusive' | 'shared', string[]][];
}

export const LOCK_FIELDS: FieldTable<LockRow> = table<LockRow>([
  fld('name', 'Name', 'text', 'Lock name', (r) => r.name),
  fld('mode', 'Mode', 'other', 'Mode in which the lock is currently acquired (exclusive or shared)', (r) => r.mode),
  fld('owner', 'Owner', 'other', 'Current lock owner(s)', (r) => niceSort(r.owner)),
  fld('pending', 'Pending', 'other', 'Threads waiting for the lock', (r) => r.pending),
]);

/** A job filter rule as /2/filters stores it (objects.FilterRule). */
export type FilterRuleRow = Readonly<Record<string, unknown>>;

const ruleAttr = (name: string) => (r: FilterRuleRow): unknown => orElse(r[name], UNAVAIL);

export const FILTER_FIELDS: FieldTable<FilterRuleRow> = table<FilterRuleRow>([
  fld('watermark', 'Watermark', 'number', 'Watermark', ruleAttr('watermark')),
  fld('priority', 'Priority', 'number', 'Priority', ruleAttr('priority')),
  fld('predicates', 'Predicates', 'other', 'Predicates', ruleAttr('predicates')),
  fld('action', 'Action', 'other', 'Action', ruleAttr('action')),
  fld('reason_trail', 'ReasonTrail', 'other', 'Reason trail', ruleAttr('reason_trail')),
  fld('uuid', 'UUID', 'text', 'Network UUID', ruleAttr('uuid')),
]);
