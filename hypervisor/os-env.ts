// The environment OS scripts run in (backend.OSCoreEnv and OSEnvironment):
// only these variables, nothing inherited from the node worker.
import { pyRepr, pyStr } from '../jobs/py.ts';
import { OS_API_V15, effectiveApiVersion, osVariant, type OsDefinition } from './os.ts';

/** constants.HOOKS_PATH: the PATH every OS script gets. */
const HOOKS_PATH = '/sbin:/bin:/usr/sbin:/usr/bin';

/** constants.DTS_BLOCK: disks the node sees as block devices. */
const BLOCK_TEMPLATES = ['plain', 'drbd', 'blockdev', 'rbd', 'ext'];
/** constants.DTS_FILEBASED. */
const FILE_TEMPLATES = ['file', 'sharedfile', 'gluster'];

export type OsEnv = Record<string, string>;

/** The network of a NIC (objects.Network, as the RPC layer's netinfo carries it). */
export interface OsNetInfo {
  name: string;
  uuid: string;
  tags: string[];
  network: string | null;
  gateway: string | null;
  network6: string | null;
  gateway6: string | null;
  mac_prefix: string | null;
}

/** What the scripts are told about an instance: the RPC layer's instance dict (rapid's InstanceSpec fits). */
export interface OsInstance {
  name: string;
  os: string;
  uuid: string;
  ctime: number;
  mtime: number;
  primary_node: string;
  secondary_nodes: string[];
  hypervisor: string;
  /** Filled with the cluster's defaults (SimpleFillOS). */
  osparams: Record<string, unknown>;
  hvparams: Record<string, unknown>;
  beparams: Record<string, unknown>;
  disks: { uuid: string; name?: string | null; size: number; mode: string; dev_type?: string; logical_id: unknown }[];
  nics: { uuid: string; name?: string | null; mac: string; ip: string | null; mode: unknown; link: unknown; netinfo?: OsNetInfo | null }[];
}

/** backend.OSCoreEnv: what every script gets, verify included (it has no instance). */
export function osCoreEnv(osName: string, os: OsDefinition, osparams: Record<string, unknown>, debug = 0): OsEnv {
  const api = effectiveApiVersion(os);
  const env: OsEnv = { OS_API_VERSION: String(api), OS_NAME: os.name, DEBUG_LEVEL: String(debug) };
  // Without a variant in the name, the first declared one.
  env.OS_VARIANT = api >= OS_API_V15 && os.variants.length ? osVariant(osName) || os.variants[0]! : '';
  for (const [k, v] of Object.entries(osparams)) env[`OSP_${k.toUpperCase().replace(/-/g, '_')}`] = pyStr(v);
  env.PATH = HOOKS_PATH;
  return env;
}

/** objects.Network.HooksDict. */
function networkEnv(prefix: string, n: OsNetInfo): OsEnv {
  const env: OsEnv = {
    [`${prefix}NETWORK_NAME`]: n.name, [`${prefix}NETWORK_UUID`]: n.uuid, [`${prefix}NETWORK_TAGS`]: n.tags.join(' '),
  };
  if (n.network) env[`${prefix}NETWORK_SUBNET`] = n.network;
  if (n.gateway) env[`${prefix}NETWORK_GATEWAY`] = n.gateway;
  if (n.network6) env[`${prefix}NETWORK_SUBNET6`] = n.network6;
  if (n.gateway6) env[`${prefix}NETWORK_GATEWAY6`] = n.gateway6;
  if (n.mac_prefix) env[`${prefix}NETWORK_MAC_PREFIX`] = n.mac_prefix;
  return env;
}

/**
 * backend.OSEnvironment. `diskPaths[i]` is where disk i is on this node
 * (null: only reachable by URI, which rapid's disks never are).
 */
export function osEnvironment(inst: OsInstance, diskPaths: (string | null)[], os: OsDefinition, debug = 0): OsEnv {
  const env = osCoreEnv(inst.os, os, inst.osparams, debug);
  env.INSTANCE_NAME = inst.name;
  env.INSTANCE_OS = inst.os;
  env.INSTANCE_UUID = inst.uuid;
  // str() of Python floats: 1700000000.0, not 1700000000.
  env.INSTANCE_CTIME = pyRepr(inst.ctime, { t: 'float' }, 't');
  env.INSTANCE_MTIME = pyRepr(inst.mtime, { t: 'float' }, 't');
  env.INSTANCE_PRIMARY_NODE = inst.primary_node;
  env.HYPERVISOR = inst.hypervisor;
  env.DISK_COUNT = String(inst.disks.length);
  env.NIC_COUNT = String(inst.nics.length);
  env.INSTANCE_SECONDARY_NODES = inst.secondary_nodes.join(' ');

  inst.disks.forEach((d, i) => {
    env[`DISK_${i}_ACCESS`] = d.mode;
    env[`DISK_${i}_UUID`] = d.uuid;
    env[`DISK_${i}_SIZE`] = String(d.size);
    const p = diskPaths[i];
    if (p) env[`DISK_${i}_PATH`] = p;
    if (d.name) env[`DISK_${i}_NAME`] = d.name;
    if ('disk_type' in inst.hvparams) env[`DISK_${i}_FRONTEND_TYPE`] = pyStr(inst.hvparams.disk_type);
    if (d.dev_type && BLOCK_TEMPLATES.includes(d.dev_type)) env[`DISK_${i}_BACKEND_TYPE`] = 'block';
    else if (d.dev_type && FILE_TEMPLATES.includes(d.dev_type) && Array.isArray(d.logical_id)) {
      env[`DISK_${i}_BACKEND_TYPE`] = `file:${d.logical_id[0]}`;
    }
  });

  inst.nics.forEach((n, i) => {
    env[`NIC_${i}_MAC`] = n.mac;
    env[`NIC_${i}_UUID`] = n.uuid;
    if (n.name) env[`NIC_${i}_NAME`] = n.name;
    if (n.ip) env[`NIC_${i}_IP`] = n.ip;
    env[`NIC_${i}_MODE`] = pyStr(n.mode);
    if (n.mode === 'bridged') env[`NIC_${i}_BRIDGE`] = pyStr(n.link);
    if (n.link) env[`NIC_${i}_LINK`] = pyStr(n.link);
    if (n.netinfo) Object.assign(env, networkEnv(`NIC_${i}_`, n.netinfo));
    if ('nic_type' in inst.hvparams) env[`NIC_${i}_FRONTEND_TYPE`] = pyStr(inst.hvparams.nic_type);
  });

  for (const [source, kind] of [[inst.beparams, 'BE'], [inst.hvparams, 'HV']] as const) {
    for (const [k, v] of Object.entries(source)) env[`INSTANCE_${kind}_${k}`] = pyStr(v);
  }
  return env;
}
