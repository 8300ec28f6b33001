// Ganeti 3.0's parameter defaults and version constants, copied from
// ganeti/_constants.py (3.0.2), plus constructors for new config objects that
// fill them the way `gnt-cluster init` / bootstrap.InitCluster / LUNodeAdd do.
// Every table is deeply frozen: they are shared by all snapshots, so a stray
// mutation would silently change every cluster's defaults.
import { randomUUID } from 'node:crypto';
import type { Cluster, Node, NodeGroup, Params } from './model.ts';

// ---------------------------------------------------------------------------
// Versions (`/2/info`). software_version must stay numeric x.y.z: tools parse
// it (decisions.md); rapid's own version is reported separately.

export const SOFTWARE_VERSION = '3.0.2';          // RELEASE_VERSION
export const PROTOCOL_VERSION = 3000000;
export const CONFIG_VERSION = 3000000;
/** max(OS_API_VERSIONS), which is what luxid reports. */
export const OS_API_VERSION = 20;
export const EXPORT_VERSION = 0;

// ---------------------------------------------------------------------------
// Small constants used by the defaults and by the views.

export const DISK_TEMPLATES = [
  'blockdev', 'diskless', 'drbd', 'ext', 'file', 'gluster', 'plain', 'rbd', 'sharedfile',
] as const;
/** Templates rapid can serve today (the brief's subset of Ganeti's list). */
export const RAPID_DISK_TEMPLATES = ['diskless', 'file', 'sharedfile', 'drbd'] as const;
/** Hypervisor parameters that are cluster-wide only; instance views omit them. */
export const HVC_GLOBALS: readonly string[] = Object.freeze([
  'migration_bandwidth', 'migration_mode', 'migration_port', 'xen_cmd',
]);
export const DRBD_META_SIZE = 128;                // MiB added per DRBD disk
export const AF_INET = 2;
export const AF_INET6 = 10;
export const INITIAL_NODE_GROUP_NAME = 'default';
export const DEFAULT_BRIDGE = 'xen-br0';
export const DEFAULT_MAC_PREFIX = 'aa:00:00';
export const MASTER_POOL_SIZE_DEFAULT = 10;
export const LUXID_MAXIMAL_RUNNING_JOBS_DEFAULT = 20;
export const LUXID_MAXIMAL_TRACKED_JOBS_DEFAULT = 25;
export const DEFAULT_GLUSTER_STORAGE_DIR = '/var/run/ganeti/gluster';
export const IEC_DEFAULT_TOOLS: readonly string[] = Object.freeze(['gzip', 'gzip-fast', 'gzip-slow']);
export const SSH_DEFAULT_KEY_TYPE = 'rsa';
export const SSH_DEFAULT_KEY_BITS = 2048;
export const DATA_COLLECTOR_NAMES: readonly string[] = Object.freeze([
  'cpu-avg-load', 'diskstats', 'drbd', 'inst-status-xen', 'lv', 'xen-cpu-avg-load',
]);
/** MOND_TIME_INTERVAL (5 s) in microseconds, as bootstrap stores it. */
export const DATA_COLLECTOR_INTERVAL_US = 5_000_000;
export const IALLOC_HAIL = 'hail';

// ---------------------------------------------------------------------------
// Parameter defaults.

/** Freezes an object graph in place, so shared tables cannot be changed by accident. */
export function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

export const HVC_DEFAULTS: Readonly<Record<string, Readonly<Params>>> = deepFreeze({
  fake: {
    migration_mode: 'live',
  },
  kvm: {
    acpi: true,
    boot_order: 'disk',
    cdrom2_image_path: '',
    cdrom_disk_type: '',
    cdrom_image_path: '',
    cpu_cores: 0,
    cpu_mask: 'all',
    cpu_sockets: 0,
    cpu_threads: 0,
    cpu_type: '',
    disk_aio: 'threads',
    disk_cache: 'default',
    disk_discard: 'default',
    disk_type: 'paravirtual',
    floppy_image_path: '',
    initrd_path: '',
    kernel_args: 'ro',
    kernel_path: '/boot/vmlinuz-3-kvmU',
    keymap: '',
    kvm_extra: '',
    kvm_flag: '',
    kvm_path: '/usr/bin/kvm',
    kvm_pci_reservations: 12,
    machine_version: '',
    mem_path: '',
    migration_bandwidth: 32,
    migration_caps: '',
    migration_downtime: 30,
    migration_mode: 'live',
    migration_port: 8102,
    nic_type: 'paravirtual',
    reboot_behavior: 'reboot',
    root_path: '/dev/vda1',
    scsi_controller_type: 'lsi',
    security_domain: '',
    security_model: 'none',
    serial_console: true,
    serial_speed: 38400,
    soundhw: '',
    spice_bind: '',
    spice_image_compression: '',
    spice_ip_version: 0,
    spice_jpeg_wan_compression: '',
    spice_password_file: '',
    spice_playback_compression: true,
    spice_streaming_video: '',
    spice_tls_ciphers: 'HIGH:-DES:-3DES:-EXPORT:-DH',
    spice_use_tls: false,
    spice_use_vdagent: true,
    spice_zlib_glz_wan_compression: '',
    usb_devices: '',
    usb_mouse: '',
    use_chroot: false,
    use_guest_agent: false,
    use_localtime: false,
    user_shutdown: false,
    vga: '',
    vhost_net: false,
    virtio_net_queues: 1,
    vnc_bind_address: '',
    vnc_password_file: '',
    vnc_tls: false,
    vnc_x509_path: '',
    vnc_x509_verify: false,
    vnet_hdr: true,
  },
});

export const BEC_DEFAULTS: Readonly<Params> = deepFreeze({
  always_failover: false,
  auto_balance: true,
  maxmem: 128,
  minmem: 128,
  spindle_use: 1,
  vcpus: 1,
});

export const NICC_DEFAULTS: Readonly<Params> = deepFreeze({
  link: DEFAULT_BRIDGE,
  mode: 'bridged',
  vlan: '',
});

export const NDC_DEFAULTS: Readonly<Params> = deepFreeze({
  cpu_speed: 1.0,
  exclusive_storage: false,
  oob_program: '',
  ovs: false,
  ovs_link: '',
  ovs_name: 'switch1',
  spindle_count: 1,
  ssh_port: 22,
});

export const DISK_DT_DEFAULTS: Readonly<Record<string, Readonly<Params>>> = deepFreeze({
  blockdev: {},
  diskless: {},
  drbd: {
    'c-delay-target': 1,
    'c-fill-target': 0,
    'c-max-rate': 61440,
    'c-min-rate': 4096,
    'c-plan-ahead': 20,
    'data-stripes': 1,
    'disk-barriers': 'n',
    'disk-custom': '',
    'dynamic-resync': false,
    'meta-barriers': false,
    'meta-stripes': 1,
    metavg: 'xenvg',
    'net-custom': '',
    protocol: 'C',
    'resync-rate': 61440,
  },
  ext: { access: 'kernelspace' },
  file: {},
  gluster: { access: 'kernelspace', host: '127.0.0.1', port: 24007, volume: 'gv0' },
  plain: { stripes: 1 },
  rbd: { access: 'kernelspace', pool: 'rbd' },
  sharedfile: {},
});

const ISPECS_MIN = { 'cpu-count': 1, 'disk-count': 1, 'disk-size': 1024, 'memory-size': 128, 'nic-count': 1, 'spindle-use': 1 };
const ISPECS_MAX = { 'cpu-count': 8, 'disk-count': 16, 'disk-size': 1048576, 'memory-size': 32768, 'nic-count': 8, 'spindle-use': 12 };

export const IPOLICY_DEFAULTS: Readonly<Params> = deepFreeze({
  'disk-templates': [...DISK_TEMPLATES],
  minmax: [{ max: { ...ISPECS_MAX }, min: { ...ISPECS_MIN } }],
  'spindle-ratio': 32.0,
  std: { ...ISPECS_MIN },
  'vcpu-ratio': 4.0,
});

// ---------------------------------------------------------------------------
// Filling rules (objects.py FillDict / FillIPolicy / FillDiskParams). The views
// use the same functions, so "filled" means the same thing everywhere.

/** objects.FillDict: a new dict, defaults overridden by custom, minus skipKeys. */
export function fillDict(defaults: Readonly<Params> | undefined, custom: Readonly<Params> | undefined,
  skipKeys?: readonly string[]): Params {
  const out: Params = { ...defaults, ...custom };
  if (skipKeys) for (const k of skipKeys) delete out[k];
  return out;
}

/** objects.FillIPolicy: custom keys win, except `std`, which is merged per spec. */
export function fillIPolicy(defaults: Readonly<Params>, custom: Readonly<Params> | undefined): Params {
  const out: Params = structuredClone({ ...custom });
  for (const [key, value] of Object.entries(defaults)) {
    if (!(key in out)) out[key] = structuredClone(value);
    else if (key === 'std') out[key] = fillDict(value as Params, out[key] as Params);
  }
  return out;
}

/** objects.FillDiskParams: a per-template merge over every disk template. */
export function fillDiskParams(defaults: Readonly<Record<string, Readonly<Params>>>,
  custom: Readonly<Record<string, Readonly<Params>>> | undefined): Record<string, Params> {
  const out: Record<string, Params> = {};
  for (const dt of DISK_TEMPLATES) out[dt] = fillDict(defaults[dt], custom?.[dt]);
  return out;
}

// ---------------------------------------------------------------------------
// New objects.

/** A new cluster object with every default filled (used at first start). */
export function newCluster(opts: {
  name: string; masterNodeUuid: string; hypervisors: string[];
  fileStorageDir: string; sharedFileStorageDir: string; now: number;
}): Cluster {
  const unknown = opts.hypervisors.filter((hv) => !(hv in HVC_DEFAULTS));
  if (opts.hypervisors.length === 0 || unknown.length > 0) {
    throw new Error(`unsupported hypervisor list: ${JSON.stringify(opts.hypervisors)}`);
  }
  const enabledDiskTemplates = [...RAPID_DISK_TEMPLATES];
  // bootstrap.InitCluster restricts the policy to the enabled templates.
  const ipolicy = fillIPolicy(IPOLICY_DEFAULTS, {});
  ipolicy['disk-templates'] = DISK_TEMPLATES.filter((dt) => (enabledDiskTemplates as string[]).includes(dt));
  return {
    uuid: randomUUID(),
    ctime: opts.now,
    mtime: opts.now,
    serial_no: 1,
    tags: [],
    name: opts.name,
    master_node: opts.masterNodeUuid,
    enabled_hypervisors: [...opts.hypervisors],
    // gnt-cluster init fills every hypervisor it knows, enabled or not.
    hvparams: Object.fromEntries(Object.entries(HVC_DEFAULTS).map(([hv, p]) => [hv, fillDict(p, {})])),
    os_hvp: {},
    beparams: { default: fillDict(BEC_DEFAULTS, {}) },
    osparams: {},
    nicparams: { default: fillDict(NICC_DEFAULTS, {}) },
    ndparams: fillDict(NDC_DEFAULTS, {}),
    diskparams: fillDiskParams(DISK_DT_DEFAULTS, {}),
    ipolicy,
    candidate_pool_size: MASTER_POOL_SIZE_DEFAULT,
    max_running_jobs: LUXID_MAXIMAL_RUNNING_JOBS_DEFAULT,
    max_tracked_jobs: LUXID_MAXIMAL_TRACKED_JOBS_DEFAULT,
    mac_prefix: DEFAULT_MAC_PREFIX,
    master_netdev: DEFAULT_BRIDGE,
    master_netmask: 32,
    // rapid's drbd keeps its replicas in files: no volume group; gnt-cluster init's helper default.
    volume_group_name: null,
    drbd_usermode_helper: '/bin/true',
    file_storage_dir: opts.fileStorageDir,
    shared_file_storage_dir: opts.sharedFileStorageDir,
    enabled_disk_templates: enabledDiskTemplates,
    // bootstrap picks hail whenever htools is installed.
    default_iallocator: IALLOC_HAIL,
    default_iallocator_params: {},
    maintain_node_health: false,
    uid_pool: [],
    reserved_lvs: [],
    primary_ip_family: AF_INET,
    prealloc_wipe_disks: false,
    hidden_os: [],
    blacklisted_os: [],
    enabled_user_shutdown: false,
  };
}

export function newNodeGroup(opts: { name: string; now: number }): NodeGroup {
  return {
    uuid: randomUUID(),
    ctime: opts.now,
    mtime: opts.now,
    serial_no: 1,
    tags: [],
    name: opts.name,
    alloc_policy: 'preferred',
    ndparams: {},
    diskparams: {},
    ipolicy: {},
    networks: {},
  };
}

/**
 * A new node. The master is always a master candidate; for other nodes the
 * caller decides (Ganeti promotes while the candidate pool is not full).
 */
export function newNode(opts: {
  name: string; primaryIp: string; secondaryIp: string; groupUuid: string;
  master: boolean; now: number; masterCandidate?: boolean;
}): Node {
  return {
    uuid: randomUUID(),
    ctime: opts.now,
    mtime: opts.now,
    serial_no: 1,
    tags: [],
    name: opts.name,
    primary_ip: opts.primaryIp,
    secondary_ip: opts.secondaryIp,
    group: opts.groupUuid,
    master_candidate: opts.master || (opts.masterCandidate ?? false),
    offline: false,
    drained: false,
    master_capable: true,
    vm_capable: true,
    ndparams: {},
  };
}
