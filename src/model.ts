// rapid's configuration objects. Shapes follow Ganeti's objects.py so that
// the RAPI field builders (rapi/views.ts) are a thin projection. Objects refer
// to each other by uuid; names are looked up through the config snapshot.

export type Params = Record<string, unknown>;

interface Stamped {
  uuid: string;
  /** Seconds since the epoch, floats as in Ganeti. */
  ctime: number;
  mtime: number;
  serial_no: number;
  tags: string[];
}

export interface Cluster extends Stamped {
  name: string;
  master_node: string;            // node uuid
  enabled_hypervisors: string[];
  hvparams: Record<string, Params>;   // per hypervisor, full defaults
  os_hvp: Record<string, Record<string, Params>>;
  beparams: Record<string, Params>;   // {"default": {...}}
  osparams: Record<string, Params>;
  nicparams: Record<string, Params>;  // {"default": {...}}
  ndparams: Params;
  diskparams: Record<string, Params>;
  ipolicy: Params;
  candidate_pool_size: number;
  max_running_jobs: number;
  max_tracked_jobs: number;
  mac_prefix: string;
  master_netdev: string;
  master_netmask: number;
  volume_group_name: string | null;
  drbd_usermode_helper: string | null;
  file_storage_dir: string;
  shared_file_storage_dir: string;
  enabled_disk_templates: string[];
  default_iallocator: string;
  default_iallocator_params: Params;
  maintain_node_health: boolean;
  uid_pool: unknown[];
  reserved_lvs: string[];
  primary_ip_family: number;
  prealloc_wipe_disks: boolean;
  hidden_os: string[];
  blacklisted_os: string[];
  enabled_user_shutdown: boolean;
}

export interface Node extends Stamped {
  name: string;
  primary_ip: string;
  secondary_ip: string;
  group: string;                  // group uuid
  master_candidate: boolean;
  offline: boolean;
  drained: boolean;
  master_capable: boolean;
  vm_capable: boolean;
  ndparams: Params;               // custom node parameters only
}

export interface NodeGroup extends Stamped {
  name: string;
  alloc_policy: 'preferred' | 'last_resort' | 'unallocable';
  ndparams: Params;
  diskparams: Record<string, Params>;
  ipolicy: Params;
  networks: Record<string, Params>;       // network uuid → netparams (mode, link, vlan)
  /** Static resource state an operator declares (gnt-group --hypervisor-state / --disk-state); absent: none. */
  hv_state_static?: Record<string, Params>;
  disk_state_static?: Record<string, Record<string, Params>>;
}

export interface Disk {
  uuid: string;
  name: string | null;
  size: number;                   // MiB
  mode: 'rw' | 'ro';
  spindles: number | null;
  dev_type: string;
  /** Where the data lives on the primary node (file path for file disks). */
  logical_id: unknown;
  params: Params;
}

export interface Nic {
  uuid: string;
  name: string | null;
  mac: string;
  ip: string | null;
  network: string | null;         // network uuid
  nicparams: Params;              // custom: mode, link, vlan
}

export type AdminState = 'up' | 'down' | 'offline';

export interface Instance extends Stamped {
  name: string;
  primary_node: string;           // node uuid
  secondary_nodes: string[];      // node uuids
  os: string;
  hypervisor: string;
  admin_state: AdminState;
  admin_state_source: 'admin' | 'user';
  disk_template: string;
  disks: Disk[];
  nics: Nic[];
  beparams: Params;               // custom
  hvparams: Params;               // custom
  osparams: Params;
  network_port: number | null;
  forthcoming: boolean;
}

export interface Network extends Stamped {
  name: string;
  network: string;
  gateway: string | null;
  network6: string | null;
  gateway6: string | null;
  mac_prefix: string | null;
  reservations: string;           // bitmap, "X" reserved, "." free
  ext_reservations: string;
}

/** Object kinds kept in the config store; also Ganeti's tag `kind`s. */
export const KINDS = ['cluster', 'node', 'nodegroup', 'instance', 'network'] as const;
export type Kind = (typeof KINDS)[number];

export interface KindMap {
  cluster: Cluster;
  node: Node;
  nodegroup: NodeGroup;
  instance: Instance;
  network: Network;
}

/** What a node worker reports about one instance it runs. */
export interface InstanceRuntime {
  state: 'running' | 'stopped' | 'paused' | 'crashed' | 'user_down';
  memory: number;                 // MiB
  vcpus: number;
}

/** What a node worker reports about its host, refreshed with each heartbeat. */
export interface NodeRuntime {
  node: string;                   // node uuid
  heartbeat: number;              // ms since epoch
  mtotal: number;
  mnode: number;
  mfree: number;
  dtotal: number;
  dfree: number;
  ctotal: number;
  cnos: number;
  cnodes: number;
  csockets: number;
  instances: Record<string, InstanceRuntime>; // by instance name
  /** Where the node's kvm driver keeps guests' sockets (console commands point there). */
  kvm_run_dir?: string;
}

export const nowTs = (): number => Date.now() / 1000;
