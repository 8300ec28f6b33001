// Cluster-wide parameters (cmdlib/cluster LUClusterSetParams,
// LUClusterRedistConf) with Ganeti's checks and texts. Whatever the opcode
// sets is what /2/info shows: a parameter rapid does not model (it reports a
// fixed value) can only be "set" to that value.
import { ConfigurationError, OpPrereqError } from '../errors.ts';
import type { Cluster, Node, Params } from '../../src/model.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import {
  AF_INET6, DATA_COLLECTOR_INTERVAL_US, DATA_COLLECTOR_NAMES, DEFAULT_GLUSTER_STORAGE_DIR, HVC_DEFAULTS,
  IEC_DEFAULT_TOOLS, RAPID_DISK_TEMPLATES, fillDict,
} from '../../src/defaults.ts';
import {
  BES_PARAMETER_TYPES, DISK_DT_TYPES, HVS_PARAMETER_TYPES, NDS_PARAMETER_TYPES, NICS_PARAMETER_TYPES, checkNicParams,
  forceDictType, updatedParams, upgradeBeParams,
} from '../params.ts';
import { checkIPolicyVsDiskTemplates, updatedIPolicy } from '../ipolicy.ts';
import { isDict, pyRepr, pyTruthy, sameJson } from '../py.ts';
import type { Opcode } from '../opcodes.ts';
import { define, type OpContext } from './context.ts';
import { logWarning } from './feedback.ts';
import { checkDiskAccessModes, verifyDiskParamKeys } from './group-params.ts';
import { checkHvParams, knownHypervisor } from './hv-params.ts';
import { BGL, BGL_SHARED } from './lock-requests.ts';
import { checkOsParams } from './os.ts';
import { filledOsParams } from '../../src/fill.ts';
import { IALLOCATORS, candidatePromotions, reportCandidatePool } from './node-actions.ts';

const UIDPOOL_UID_MAX = 4294967295;
const MAC_PREFIX = /^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/i;

// ---------------------------------------------------------------------------
// Parameters rapid reports but does not model: only their current value is accepted.

type Fixed = { value: (c: Cluster) => unknown; why: string; accepts?: (v: unknown, c: Cluster) => boolean };
const allCollectors = (want: unknown) => (v: unknown) =>
  isDict(v) && Object.entries(v).every(([k, x]) => DATA_COLLECTOR_NAMES.includes(k) && x === want);

const FIXED: Record<string, Fixed> = {
  use_external_mip_script: { value: () => false, why: 'rapid manages no master IP address' },
  modify_etc_hosts: { value: () => false, why: 'rapid never edits /etc/hosts' },
  file_storage_dir: { value: (c) => c.file_storage_dir, why: 'each node keeps its file disks in its own storage directory (RAPID_STORAGE_DIR)' },
  shared_file_storage_dir: { value: (c) => c.shared_file_storage_dir, why: 'each node keeps its file disks in its own storage directory (RAPID_STORAGE_DIR)' },
  gluster_storage_dir: { value: () => DEFAULT_GLUSTER_STORAGE_DIR, why: 'rapid has no Gluster storage' },
  install_image: { value: () => '', why: 'rapid runs no helper VMs' },
  zeroing_image: { value: () => '', why: 'rapid runs no helper VMs' },
  instance_communication_network: { value: () => '', why: 'rapid has no instance communication network' },
  compression_tools: { value: () => IEC_DEFAULT_TOOLS, why: "rapid's exports use a fixed set of tools" },
  enabled_data_collectors: { value: () => true, accepts: allCollectors(true), why: 'rapid runs no monitoring daemon' },
  data_collector_interval: { value: () => DATA_COLLECTOR_INTERVAL_US, accepts: allCollectors(DATA_COLLECTOR_INTERVAL_US), why: 'rapid runs no monitoring daemon' },
  hv_state: { value: () => ({}), accepts: (v) => !pyTruthy(v), why: 'rapid keeps no static resource state' },
  disk_state: { value: () => ({}), accepts: (v) => !pyTruthy(v), why: 'rapid keeps no static resource state' },
  osparams_private_cluster: { value: () => ({}), accepts: (v) => !pyTruthy(v), why: 'rapid keeps no private OS parameters' },
};

function checkFixed(op: Opcode, c: Cluster): void {
  for (const [param, f] of Object.entries(FIXED)) {
    const v = op[param];
    if (v === null || v === undefined) continue;
    if (f.accepts ? f.accepts(v, c) : sameJson(v, f.value(c))) continue;
    throw new OpPrereqError(`The parameter ${param} cannot be changed on a rapid cluster (${f.why}); it stays ${pyRepr(f.value(c))}`, 'wrong_input');
  }
}

// ---------------------------------------------------------------------------
// Checks from CheckArguments (uidpool, utils, cmdlib.common).

type UidRange = [number, number];

/** uidpool.CheckUidPool. */
function checkUidPool(pool: UidRange[]): void {
  for (const [lower, higher] of pool) {
    if (lower > higher) throw new OpPrereqError(`Lower user-id range boundary value (${lower}) is larger than higher boundary value (${higher})`, 'wrong_input');
    if (lower < 0) throw new OpPrereqError(`Lower user-id range boundary value (${lower}) is smaller than UIDPOOL_UID_MIN (0).`, 'wrong_input');
    if (higher > UIDPOOL_UID_MAX) throw new OpPrereqError(`Higher user-id boundary value (${higher}) is larger than UIDPOOL_UID_MAX (${UIDPOOL_UID_MAX}).`, 'wrong_input');
  }
}

/** The new uid pool: add_uids, remove_uids, then uid_pool replaces it (uidpool.AddToUidPool / RemoveFromUidPool). */
function newUidPool(op: Opcode, current: unknown[]): UidRange[] {
  let pool = current.map((r) => [...(r as number[])] as UidRange);
  const has = (r: UidRange) => pool.findIndex((x) => x[0] === r[0] && x[1] === r[1]);
  for (const r of (op.add_uids as UidRange[] | null) ?? []) if (has(r) < 0) pool.push([r[0], r[1]]);
  if (op.add_uids) pool.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const r of (op.remove_uids as UidRange[] | null) ?? []) {
    const i = has(r);
    if (i < 0) throw new OpPrereqError(`User-id range to be removed is not found in the current user-id pool: [${r[0]}, ${r[1]}]`, 'wrong_input');
    pool.splice(i, 1);
  }
  if (op.uid_pool) pool = (op.uid_pool as UidRange[]).map((r) => [r[0], r[1]]);
  return pool;
}

/** CheckArguments' diskparams checks: typed, only known keys, valid access modes. */
function checkDiskParams(diskparams: Record<string, Params>): Record<string, Params> {
  const out: Record<string, Params> = {};
  for (const [dt, params] of Object.entries(diskparams)) out[dt] = forceDictType(params, DISK_DT_TYPES);
  verifyDiskParamKeys(out);
  try {
    checkDiskAccessModes(out);
  } catch (err) {
    // str() of an OpPrereqError without an ecode is its message alone.
    if (err instanceof OpPrereqError) throw new OpPrereqError(`While verify diskparams options: ${err.message}`, 'wrong_input');
    throw err;
  }
  return out;
}

// ---------------------------------------------------------------------------
// OP_CLUSTER_SET_PARAMS

interface ClusterPlan {
  cluster: Cluster;
  promoted: Node[];
  /** feedback_fn lines of Exec, in Ganeti's order. */
  feedback: string[];
  adjustPool: boolean;
}

/** The cluster's disk templates after the opcode: Ganeti ignores an empty list. */
const enabledTemplates = (op: Opcode, c: Cluster): string[] =>
  pyTruthy(op.enabled_disk_templates) ? [...new Set(op.enabled_disk_templates as string[])] : c.enabled_disk_templates;

/** _CheckInstancesOfDisabledDiskTemplates. */
function checkDisabledTemplates(cfg: Snapshot, disabled: string[]): void {
  for (const dt of disabled) {
    const users = [...cfg.instances.values()].flatMap((inst) =>
      inst.disks.map((d, i) => ({ inst, d, i })).filter(({ d }) => d.dev_type === dt));
    if (users.length) {
      const desc = users.map(({ inst, d, i }) =>
        `<Disk(type=${d.dev_type}, logical_id=${pyRepr(d.logical_id).replace(/^\[(.*)\]$/, '($1)')}, children=[], visible as /dev/disk/${i}${d.spindles !== null ? `, spindles=${d.spindles}` : ''}, size=${d.size}m)> (on ${inst.name})`);
      throw new OpPrereqError(`Cannot disable disk template '${dt}', because there is at least one disk using it:\n * ${desc.join('\n * ')}`, 'wrong_state');
    }
  }
  if (disabled.includes('diskless')) {
    const inst = [...cfg.instances.values()].find((i) => !i.disks.length);
    if (inst) throw new OpPrereqError(`Cannot disable disk template 'diskless', because there is at least one instance using it:\n * ${inst.name}`, 'wrong_state');
  }
}

/** The new nicparams, checked against every NIC of every instance. */
function newNicParams(cfg: Snapshot, update: Params): Params {
  const typed = forceDictType(update, NICS_PARAMETER_TYPES);
  const filled = fillDict(cfg.cluster.nicparams.default, typed);
  checkNicParams(filled);
  const errors: string[] = [];
  for (const inst of cfg.instances.values()) {
    inst.nics.forEach((nic, i) => {
      const p = fillDict(filled, nic.nicparams);
      try {
        checkNicParams(p);
      } catch (err) {
        if (!(err instanceof ConfigurationError)) throw err;
        errors.push(`Instance ${inst.name}, nic/${i}: ${err.message}`);
      }
      if (p.mode === 'routed' && !nic.ip) errors.push(`Instance ${inst.name}, nic/${i}: routed NIC with no ip address`);
    });
  }
  if (errors.length) throw new OpPrereqError(`Cannot apply the change, errors:\n${errors.join('\n')}`, 'wrong_input');
  return filled;
}

/**
 * LUClusterSetParams: every OS with cluster parameters is validated on the
 * master (CheckOSParams, not required: an OS the master lacks is skipped),
 * the parameters filled from the cluster as it was.
 */
async function checkOsParamsOnMaster(ctx: OpContext, old: Cluster, osparams: Record<string, Params>): Promise<void> {
  const master = ctx.cfg.nodes.get(ctx.cfg.cluster.master_node)!;
  for (const [os, params] of Object.entries(osparams)) await checkOsParams(ctx, [master], false, os, filledOsParams(old, os, params), false);
}

export const OP_CLUSTER_SET_PARAMS = define<ClusterPlan>({
  locks: () => [BGL],
  async prereq(op, ctx) {
    const { cfg } = ctx;
    const old = cfg.cluster;
    const c: Cluster = structuredClone(old);
    const feedback: string[] = [];
    checkFixed(op, old);

    // CheckArguments
    for (const key of ['uid_pool', 'add_uids', 'remove_uids'] as const) if (op[key]) checkUidPool(op[key] as UidRange[]);
    let macPrefix: string | null = null;
    if (op.mac_prefix) {
      if (!MAC_PREFIX.test(String(op.mac_prefix))) throw new OpPrereqError(`Invalid MAC address prefix '${op.mac_prefix}'`, 'wrong_input');
      macPrefix = String(op.mac_prefix).toLowerCase();
    }
    if (op.master_netmask !== null) {
      const max = old.primary_ip_family === AF_INET6 ? 128 : 32;
      const mask = op.master_netmask as number;
      if (!(mask > 0 && mask <= max)) throw new OpPrereqError(`CIDR netmask (${mask}) not valid`, 'wrong_input');
    }
    const diskparams = pyTruthy(op.diskparams) ? checkDiskParams(op.diskparams as Record<string, Params>) : null;

    // CheckPrereq
    const enabled = enabledTemplates(op, old);
    const unserved = enabled.filter((dt) => !(RAPID_DISK_TEMPLATES as readonly string[]).includes(dt));
    if (unserved.length) {
      throw new OpPrereqError(`Disk template(s) ${unserved.join(', ')} cannot be enabled: a rapid cluster serves ${RAPID_DISK_TEMPLATES.join(', ')}`, 'wrong_input');
    }
    checkDisabledTemplates(cfg, old.enabled_disk_templates.filter((dt) => !enabled.includes(dt)));
    c.enabled_disk_templates = enabled;

    if (op.vg_name !== null) {
      const vg = (op.vg_name as string) || null;
      if (vg !== old.volume_group_name) c.volume_group_name = vg;
      else feedback.push('Cluster LVM configuration already in desired state, not changing');
    }
    if (op.drbd_helper !== null) {
      // DRBD can never be enabled on rapid, so Ganeti's checks for it do not apply.
      feedback.push('Note that you specified a drbd user helper, but did not enable the drbd disk template.');
      const helper = (op.drbd_helper as string) || null;
      if (helper !== old.drbd_usermode_helper) c.drbd_usermode_helper = helper;
      else feedback.push('Cluster DRBD helper already in desired state, not changing');
    }
    if (diskparams && 'drbd' in diskparams) {
      await logWarning(ctx, 'Changing DRBD parameters only affects devices created in the future, not existing ones');
      await logWarning(ctx, 'You need to shutdown and start (not reboot!) existing instances to adopt the changes');
      await logWarning(ctx, 'Alternatively you can swap the secondary node by running `gnt-instance replace-disks --new-secondary $instance`');
    }

    if (pyTruthy(op.beparams)) {
      c.beparams = { ...c.beparams, default: fillDict(old.beparams.default, forceDictType(upgradeBeParams({ ...(op.beparams as Params) }), BES_PARAMETER_TYPES)) };
    }
    if (pyTruthy(op.ndparams)) c.ndparams = fillDict(old.ndparams, forceDictType(op.ndparams, NDS_PARAMETER_TYPES));

    if (pyTruthy(op.ipolicy)) {
      c.ipolicy = updatedIPolicy(old.ipolicy, op.ipolicy as Params, { groupPolicy: false });
    }
    checkIPolicyVsDiskTemplates(c.ipolicy, enabled);

    if (pyTruthy(op.nicparams)) c.nicparams = { ...c.nicparams, default: newNicParams(cfg, op.nicparams as Params) };

    const hvUpdate = (op.hvparams as Record<string, Params> | null) ?? {};
    for (const [hv, params] of Object.entries(hvUpdate)) {
      knownHypervisor(hv);
      c.hvparams[hv] = { ...c.hvparams[hv], ...params };
    }
    if (diskparams) {
      for (const [dt, params] of Object.entries(diskparams)) c.diskparams[dt] = { ...c.diskparams[dt], ...params };
    }
    if (pyTruthy(op.os_hvp)) {
      for (const [os, hvs] of Object.entries(op.os_hvp as Record<string, Record<string, Params | null>>)) {
        if (!(os in c.os_hvp)) { c.os_hvp[os] = hvs as Record<string, Params>; continue; }
        for (const [hv, params] of Object.entries(hvs)) {
          if (params === null) delete c.os_hvp[os][hv];
          else c.os_hvp[os][hv] = { ...c.os_hvp[os][hv], ...params };
        }
      }
      for (const [os, hvs] of Object.entries(c.os_hvp)) if (!Object.keys(hvs).length) delete c.os_hvp[os];
    }
    if (op.osparams !== null) {
      for (const [os, params] of Object.entries(op.osparams as Record<string, Params>)) {
        c.osparams[os] = updatedParams(c.osparams[os] ?? {}, params, { useNone: true });
        if (!Object.keys(c.osparams[os]).length) delete c.osparams[os];
      }
      await checkOsParamsOnMaster(ctx, old, c.osparams);
    }

    if (op.enabled_hypervisors !== null) {
      const hvs = op.enabled_hypervisors as string[];
      if (!hvs.length) throw new OpPrereqError('At least one hypervisor must be enabled', 'wrong_input');
      for (const hv of hvs) {
        knownHypervisor(hv);
        c.hvparams[hv] = forceDictType(fillDict(HVC_DEFAULTS[hv], c.hvparams[hv]), HVS_PARAMETER_TYPES);
      }
      c.enabled_hypervisors = [...hvs];
    }
    for (const hv of Object.keys(c.hvparams)) {
      if (hv in hvUpdate || (op.enabled_hypervisors as string[] | null)?.includes(hv)) c.hvparams[hv] = checkHvParams(hv, c.hvparams[hv]);
    }
    if (pyTruthy(op.os_hvp)) {
      for (const hvs of Object.values(c.os_hvp)) {
        for (const [hv, params] of Object.entries(hvs)) checkHvParams(hv, fillDict(c.hvparams[hv], forceDictType(params, HVS_PARAMETER_TYPES)));
      }
    }
    if (op.default_iallocator && !IALLOCATORS.includes(op.default_iallocator as string)) {
      throw new OpPrereqError(`Invalid default iallocator script '${op.default_iallocator}' specified`, 'wrong_input');
    }

    // What Exec sets directly.
    const direct = ['max_running_jobs', 'max_tracked_jobs', 'maintain_node_health', 'prealloc_wipe_disks', 'default_iallocator',
      'default_iallocator_params', 'reserved_lvs', 'enabled_user_shutdown'] as const;
    for (const key of direct) if (op[key] !== null) (c as unknown as Params)[key] = op[key];
    if (op.uid_pool !== null || op.add_uids !== null || op.remove_uids !== null) c.uid_pool = newUidPool(op, old.uid_pool);
    for (const [key, desc] of [['hidden_os', 'hidden'], ['blacklisted_os', 'blacklisted']] as const) {
      for (const [action, os] of (op[key] as [string, string][] | null) ?? []) {
        const list = c[key];
        if (action === 'add') {
          if (list.includes(os)) feedback.push(`OS ${os} already in ${desc} OS list, ignoring`);
          else list.push(os);
        } else if (list.includes(os)) {
          list.splice(list.indexOf(os), 1);
        } else {
          feedback.push(`OS ${os} not found in ${desc} OS list, ignoring`);
        }
      }
    }
    if (macPrefix) c.mac_prefix = macPrefix;
    if (op.master_netdev) {
      // rapid manages no master IP, so there is nothing to move to the new device.
      feedback.push(`Changing master_netdev from ${old.master_netdev} to ${op.master_netdev}`);
      c.master_netdev = String(op.master_netdev);
    }
    if (op.master_netmask) {
      feedback.push(`Changing master IP netmask to ${op.master_netmask}`);
      c.master_netmask = op.master_netmask as number;
    }

    const adjustPool = op.candidate_pool_size !== null;
    let promoted: Node[] = [];
    if (adjustPool) {
      c.candidate_pool_size = op.candidate_pool_size as number;
      promoted = candidatePromotions(cfg.all('node'), c.candidate_pool_size, []);
    }
    return { cluster: c, promoted, feedback, adjustPool };
  },
  async exec({ cluster, promoted, feedback, adjustPool }, _op, ctx) {
    await ctx.cfg.commit([{ kind: 'cluster', obj: cluster }, ...promoted.map((obj) => ({ kind: 'node' as const, obj }))]);
    if (adjustPool) await reportCandidatePool(ctx, promoted, cluster.candidate_pool_size, []);
    for (const line of feedback) await ctx.log(line);
    return null;
  },
});

// ---------------------------------------------------------------------------
// OP_CLUSTER_REDIST_CONF

export const OP_CLUSTER_REDIST_CONF = define<null>({
  locks: () => [BGL_SHARED],
  prereq: () => null,
  async exec(_plan, _op, ctx) {
    // Ganeti copies the configuration and ancillary files to every node;
    // every rapid process reads the one configuration in Redis instead.
    await ctx.log('Nothing to redistribute: every rapid daemon and node worker reads the cluster configuration from Redis');
    return null;
  },
});
