// Instance lifecycle opcodes (cmdlib/instance_create.py, instance_operation.py,
// instance_remove): check everything first, then change the node, then the
// config, so a failure leaves no half-made instance behind.
import { randomUUID, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Disk, Instance, Nic, Node, Params } from '../../src/model.ts';
import { filledBeParams, filledOsParams } from '../../src/fill.ts';
import { updatedParams, BES_PARAMETER_TYPES, IDISK_PARAMS_TYPES, INIC_PARAMS_TYPES, forceDictType, upgradeBeParams } from '../params.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import { define, type OpContext } from './context.ts';
import { findInstance, findNode, primaryNode, requireNodeUp } from './lookup.ts';
import { BGL_SHARED } from './lock-requests.ts';
import { instanceSpec } from './instance-spec.ts';
import { validateTag } from './tags.ts';
import { checkOsParams, osRpc } from './os.ts';
import {
  STATUS_TIMEOUT_MS, assembleDisks, checkNodeNotDrained, checkNodeOnline, checkNodeVmCapable, createDisks, mirrorStatus, raiseOn, removeDisks, shutdownDisks, unreachable, waitForSync, type MirrorStatus,
} from './instance-disks.ts';
import { DRBD, allocateDrbd, diskNodes, drbdIds as drbdIdsOf, drbdLogicalId, isDrbd } from './drbd.ts';
import { logInfo } from './feedback.ts';
import { networkWrites, nicNetworkLocks, releaseInstanceIps, resolveNicNetwork, type PendingNetworks } from './network-ipam.ts';
import { STEP } from '../node-rpc.ts';
import { groupIPolicy, specViolations } from '../ipolicy.ts';

/** Lock the instance and its nodes (Ganeti locks them at node level too). */
function instanceLocks(op: Opcode, cfg: ConfigStore): LockRequest[] {
  const locks: LockRequest[] = [BGL_SHARED, { level: 'instance', name: String(op.instance_name), shared: false }];
  const inst = cfg.byName('instance', String(op.instance_name));
  if (inst) {
    for (const uuid of [inst.primary_node, ...inst.secondary_nodes]) {
      const n = cfg.nodes.get(uuid);
      if (n) locks.push({ level: 'node', name: n.name, shared: true });
    }
  }
  return locks;
}

/** cmdlib.common.CheckInstanceState: admin state allowed, and not running when it must be down. */
async function checkInstanceState(ctx: OpContext, inst: Instance, allowed: Instance['admin_state'][], msg: string): Promise<void> {
  if (!allowed.includes(inst.admin_state)) {
    throw new OpPrereqError(`Instance '${inst.name}' is marked to be ${inst.admin_state}, ${msg}`, 'wrong_state');
  }
  if (!allowed.includes('up') && (await isRunning(ctx, inst))) {
    throw new OpPrereqError(`Instance ${inst.name} is running, ${msg}`, 'wrong_state');
  }
}

async function isRunning(ctx: OpContext, inst: Instance): Promise<boolean> {
  const node = primaryNode(ctx.cfg, inst);
  const info = (await ctx.node(node.name, STEP.instanceInfo, { name: inst.name, hypervisor: inst.hypervisor })) as { state: string } | null;
  return info !== null && info.state === 'running';
}

/** cmdlib.instance_utils.CheckNodeFreeMemory. */
export function checkFreeMemory(cfg: ConfigStore, node: Node, reason: string, needed: number): void {
  const rt = cfg.liveRuntime(node.uuid);
  if (!rt) throw new OpPrereqError(`Can't compute free memory on node ${node.name}, result was 'None'`, 'environment_error');
  if (needed > rt.mfree) {
    throw new OpPrereqError(`Not enough memory on node ${node.name} for ${reason}: needed ${needed} MiB, available ${rt.mfree} MiB`, 'insufficient_resources');
  }
}

async function markAdminState(ctx: OpContext, inst: Instance, state: Instance['admin_state'], source: Instance['admin_state_source'] = 'admin') {
  const cur = ctx.cfg.instances.get(inst.uuid) ?? inst;
  if (cur.admin_state === state && cur.admin_state_source === source) return;
  await ctx.cfg.commit([{ kind: 'instance', obj: { ...cur, admin_state: state, admin_state_source: source } }]);
}

// ---------------------------------------------------------------------------

interface CreatePlan { inst: Instance; pnode: Node; start: boolean; install: boolean; waitForSync: boolean; netWrites: ReturnType<typeof networkWrites> }

export function generateMac(prefix: string, used: Set<string>): string {
  for (;;) {
    const b = randomBytes(3);
    const mac = `${prefix}:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
    if (!used.has(mac)) return mac;
  }
}

/** Ganeti's iallocator in its simplest honest form: the vm-capable node with most free memory. */
function allocateNode(cfg: ConfigStore, needMem: number, exclude: string[] = []): Node {
  let best: { node: Node; free: number } | undefined;
  for (const node of cfg.nodes.values()) {
    const rt = cfg.liveRuntime(node.uuid);
    if (!rt || node.offline || node.drained || !node.vm_capable || exclude.includes(node.uuid)) continue;
    if (!best || rt.mfree > best.free) best = { node, free: rt.mfree };
  }
  if (!best || best.free < needMem) {
    throw new OpPrereqError(`Can't compute nodes using iallocator 'hail': no node has ${needMem} MiB free memory`, 'insufficient_resources');
  }
  return best.node;
}

export async function checkNameResolves(name: string): Promise<void> {
  try {
    await Promise.race([
      lookup(name),
      new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'timed out' })), 3000)),
    ]);
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    throw new OpPrereqError(`The given name (${name}) does not resolve: ${code === 'ENOTFOUND' ? 'Name or service not known' : code}`, 'resolver_error');
  }
}

export const OP_INSTANCE_CREATE = define<CreatePlan>({
  locks: (op, cfg) => [BGL_SHARED, { level: 'instance', name: String(op.instance_name), shared: false }, ...nicNetworkLocks(cfg, op.nics as unknown[])],
  async prereq(op, ctx) {
    const { cfg } = ctx;
    const cluster = cfg.cluster;
    const name = String(op.instance_name ?? '');
    if (op.mode !== 'create') {
      throw new OpPrereqError(`Instance creation mode '${op.mode}' is not supported by rapid yet`, 'wrong_input');
    }
    if (op.ip_check && !op.name_check) {
      throw new OpPrereqError('Cannot do IP address check without a name check', 'wrong_input');
    }
    if (op.name_check) await checkNameResolves(name);
    if (cfg.byName('instance', name)) throw new OpPrereqError(`Instance '${name}' is already in the cluster`, 'already_exists');

    const template = (op.disk_template as string | null) ?? cluster.enabled_disk_templates[0];
    if (!cluster.enabled_disk_templates.includes(template)) {
      throw new OpPrereqError(`Disk template '${template}' is not enabled in cluster. Enabled disk templates are: ${cluster.enabled_disk_templates.join(',')}`, 'wrong_input');
    }
    const hv = (op.hypervisor as string | null) ?? cluster.enabled_hypervisors[0];
    if (!cluster.enabled_hypervisors.includes(hv)) {
      throw new OpPrereqError(`Selected hypervisor (${hv}) not enabled in the cluster (${cluster.enabled_hypervisors.join(',')})`, 'wrong_state');
    }
    if (!op.os_type && !op.no_install) throw new OpPrereqError('No guest OS or OS image specified', 'wrong_input');
    if (op.os_type && cluster.blacklisted_os.includes(String(op.os_type))) {
      throw new OpPrereqError(`Guest OS '${op.os_type}' is not allowed for installation`, 'wrong_state');
    }
    for (const tag of op.tags as unknown[]) validateTag(tag);

    const beparams = upgradeBeParams(forceDictType(op.beparams, BES_PARAMETER_TYPES));
    const hvparams = { ...(op.hvparams as Record<string, unknown>) };
    const be = filledBeParams(cluster, { beparams });
    const pnode = op.pnode ? findNode(cfg, op.pnode) : allocateNode(cfg, op.start ? Number(be.minmem) : 0);
    if (pnode.offline) throw new OpPrereqError(`Cannot use offline primary node '${pnode.name}'`, 'wrong_state');
    if (pnode.drained) throw new OpPrereqError(`Cannot use drained primary node '${pnode.name}'`, 'wrong_state');
    if (!pnode.vm_capable) throw new OpPrereqError(`Cannot use non-vm_capable primary node '${pnode.name}'`, 'wrong_state');
    requireNodeUp(cfg, pnode);
    const snode = template === DRBD ? mirrorNode(cfg, op, pnode, op.pnode ? null : Number(be.minmem)) : null;
    const drbdIds = snode ? allocateDrbd(cfg, pnode.uuid, snode.uuid, (op.disks as unknown[]).length) : [];

    const disks: Disk[] = (op.disks as unknown[]).map((raw, i) => {
      const d = forceDictType(raw, IDISK_PARAMS_TYPES);
      const mode = (d.mode as string | undefined) ?? 'rw';
      if (mode !== 'rw' && mode !== 'ro') throw new OpPrereqError(`Invalid disk access mode '${mode}'`, 'wrong_input');
      if (d.size === undefined) throw new OpPrereqError('Missing disk size', 'wrong_input');
      const uuid = randomUUID();
      return {
        uuid, name: (d.name as string | undefined) ?? null, size: Number(d.size), mode, spindles: (d.spindles as number | undefined) ?? null,
        dev_type: template, params: {},
        logical_id: snode ? drbdLogicalId(pnode.uuid, snode.uuid, drbdIds[i]!)
          : template === 'diskless' ? null : ['loop', `${name}/${uuid}.file.disk${i}`],
      };
    });
    if (template === 'diskless' && disks.length) throw new OpPrereqError("Disk template 'diskless' does not allow disks", 'wrong_input');

    const usedMacs = new Set([...cfg.instances.values()].flatMap((i) => i.nics.map((n) => n.mac)));
    const pending: PendingNetworks = new Map();
    const nics: Nic[] = (op.nics as unknown[]).map((raw, index) => {
      const n = forceDictType(raw, INIC_PARAMS_TYPES);
      const mode = (n.mode as string | undefined) ?? undefined;
      if (mode !== undefined && !['bridged', 'routed', 'openvswitch'].includes(mode)) {
        throw new OpPrereqError(`Invalid NIC mode '${mode}'`, 'wrong_input');
      }
      const net = resolveNicNetwork(cfg, pnode, { network: n.network, ip: n.ip, mode: n.mode, link: n.link ?? n.bridge },
        { index, conflictsCheck: op.conflicts_check !== false, pending });
      let mac = (n.mac as string | undefined) ?? 'auto';
      if (mac === 'auto' || mac === 'generate') mac = generateMac(net.macPrefix ?? cluster.mac_prefix, usedMacs);
      else if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) throw new OpPrereqError(`Invalid MAC address specified: ${mac}`, 'wrong_input');
      else if (usedMacs.has(mac.toLowerCase())) throw new OpPrereqError(`MAC address ${mac} already in use in cluster`, 'resource_not_unique');
      usedMacs.add(mac.toLowerCase());
      const nicparams: Record<string, unknown> = net.nicparams ?? {};
      if (!net.nicparams) {
        if (mode !== undefined) nicparams.mode = mode;
        if (n.link ?? n.bridge) nicparams.link = n.link ?? n.bridge;
        if (n.vlan) nicparams.vlan = n.vlan;
      }
      return { uuid: randomUUID(), name: (n.name as string | undefined) ?? null, mac: mac.toLowerCase(), ip: net.ip, network: net.network, nicparams };
    });

    // The node group's instance policy (cluster policy filled with the group's own).
    const group = cfg.groups.get(pnode.group);
    const violations = specViolations(groupIPolicy(cfg, pnode.group), {
      'memory-size': be.maxmem as number, 'cpu-count': be.vcpus as number, 'disk-count': disks.length,
      'disk-size': disks.map((d) => d.size), 'nic-count': nics.length, 'spindle-use': be.spindle_use as number,
    }, disks.map(() => template));
    if (violations.length && !op.ignore_ipolicy) {
      throw new OpPrereqError(`Instance allocation to group ${pnode.group} (${group?.name}) violates policy: ${violations.join(', ')}`, 'wrong_input');
    }

    const os = op.os_type ? String(op.os_type) : '';
    await checkOsParams(ctx, [pnode], true, os, filledOsParams(cluster, os, op.osparams as Params), op.force_variant === true);
    if (op.start) checkFreeMemory(cfg, pnode, `starting instance ${name}`, Number(be.minmem));

    const now = Date.now() / 1000;
    const inst: Instance = {
      uuid: randomUUID(), name, ctime: now, mtime: now, serial_no: 1, tags: [...new Set(op.tags as string[])],
      primary_node: pnode.uuid, secondary_nodes: snode ? [snode.uuid] : [], os, hypervisor: hv,
      admin_state: op.start ? 'up' : 'down', admin_state_source: 'admin',
      disk_template: template, disks, nics, beparams, hvparams, osparams: { ...(op.osparams as Record<string, unknown>) },
      network_port: null, forthcoming: false,
    };
    return { inst, pnode, start: op.start === true, install: !op.no_install && !!os, waitForSync: op.wait_for_sync !== false, netWrites: networkWrites(pending) };
  },
  async exec({ inst, pnode, start, install, waitForSync: wait, netWrites }, op, ctx) {
    if (inst.disks.length) {
      await ctx.log('* creating instance disks...');
      await createDisks(ctx, inst, pnode, inst.disks);
    }
    try {
      if (inst.disks.some(isDrbd)) {
        // New replicas: the primary's (empty) copy is the authoritative one.
        const [ok] = await assembleDisks(ctx, inst, undefined, { force: true });
        if (!ok) throw new OpExecError("Can't activate the instance's disks");
        if (wait && !(await waitForSync(ctx, inst))) throw new OpExecError('There are some degraded disks for this instance');
      }
      if (install) {
        await ctx.log('* running the instance OS create scripts...');
        raiseOn(await osRpc(ctx, pnode, STEP.osInstall, { spec: instanceSpec(ctx.cfg, inst), reinstall: false, debug: op.debug_level ?? 0 }, 'create'),
          `Could not add os for instance ${inst.name} on node ${pnode.name}`);
      }
      await ctx.log(`adding instance ${inst.name} to cluster config`);
      await ctx.cfg.commit([{ kind: 'instance', obj: inst, isNew: true }, ...netWrites]);
    } catch (err) {
      if (inst.disks.length) await removeDisks(ctx, inst, pnode, inst.disks);
      throw err;
    }
    if (start) {
      await ctx.log('* starting instance...');
      await ctx.node(pnode.name, STEP.instanceStart, { spec: instanceSpec(ctx.cfg, inst) });
    }
    return [pnode.name];
  },
});

// ---------------------------------------------------------------------------

interface InstPlan { inst: Instance; node: Node; running: boolean }

async function instancePlan(op: Opcode, ctx: OpContext, allowed: Instance['admin_state'][], msg: string): Promise<InstPlan> {
  const inst = findInstance(ctx.cfg, op.instance_name);
  await checkInstanceState(ctx, inst, allowed, msg);
  const node = primaryNode(ctx.cfg, inst);
  requireNodeUp(ctx.cfg, node);
  return { inst, node, running: await isRunning(ctx, inst) };
}

const ONLINE: Instance['admin_state'][] = ['up', 'down'];

export const OP_INSTANCE_STARTUP = define<InstPlan>({
  locks: instanceLocks,
  async prereq(op, ctx) {
    const plan = await instancePlan(op, ctx, ONLINE, 'cannot start it');
    if (!plan.running) {
      const be = { ...filledBeParams(ctx.cfg.cluster, plan.inst), ...upgradeBeParams(forceDictType(op.beparams, BES_PARAMETER_TYPES)) };
      checkFreeMemory(ctx.cfg, plan.node, `starting instance ${plan.inst.name}`, Number(be.minmem));
    }
    return plan;
  },
  async exec({ inst, node, running }, op, ctx) {
    if (!op.no_remember) await markAdminState(ctx, inst, 'up');
    if (running) return null;
    const spec = instanceSpec(ctx.cfg, ctx.cfg.instances.get(inst.uuid) ?? inst);
    Object.assign(spec.hvparams, op.hvparams);
    Object.assign(spec.beparams, upgradeBeParams(forceDictType(op.beparams, BES_PARAMETER_TYPES)));
    await startInstanceDisks(ctx, inst, op.force === true);
    try {
      await ctx.node(node.name, STEP.instanceStart, { spec, paused: op.startup_paused === true });
    } catch (err) {
      throw new OpExecError(`Could not start instance '${inst.name}': ${(err as Error).message}`);
    }
    return null;
  },
});

export const OP_INSTANCE_SHUTDOWN = define<InstPlan>({
  locks: instanceLocks,
  prereq: (op, ctx) => instancePlan(op, ctx, ONLINE, 'cannot shutdown it'),
  async exec({ inst, node }, op, ctx) {
    if (!op.no_remember) await markAdminState(ctx, inst, 'down', (op.admin_state_source as 'admin' | 'user' | null) ?? 'admin');
    try {
      await ctx.node(node.name, STEP.instanceStop, { name: inst.name, hypervisor: inst.hypervisor, timeout: op.timeout });
    } catch (err) {
      await ctx.log(`Could not shutdown instance: ${(err as Error).message}`);
      throw err;
    }
    await shutdownDisks(ctx, inst);
    return null;
  },
});

export const OP_INSTANCE_REBOOT = define<InstPlan>({
  locks: instanceLocks,
  prereq: (op, ctx) => instancePlan(op, ctx, ONLINE, 'cannot reboot it'),
  async exec({ inst, node, running }, op, ctx) {
    const spec = instanceSpec(ctx.cfg, inst);
    const type = String(op.reboot_type);
    if (running && (type === 'soft' || type === 'hard')) {
      await ctx.node(node.name, STEP.instanceReboot, { spec, type, timeout: op.shutdown_timeout });
    } else {
      if (running) {
        await ctx.node(node.name, STEP.instanceStop, { name: inst.name, hypervisor: inst.hypervisor, timeout: op.shutdown_timeout });
      }
      await ctx.log(`Starting instance ${inst.name}`);
      try {
        await ctx.node(node.name, STEP.instanceStart, { spec, paused: false });
      } catch (err) {
        throw new OpExecError(`Could not start instance for full reboot: ${(err as Error).message}`);
      }
    }
    await markAdminState(ctx, inst, 'up');
    return null;
  },
});

export const OP_INSTANCE_REINSTALL = define<InstPlan & { os: string }>({
  locks: instanceLocks,
  async prereq(op, ctx) {
    const target = findInstance(ctx.cfg, op.instance_name);
    if (!target.disks.length) throw new OpPrereqError(`Instance '${target.name}' has no disks`, 'wrong_input');
    const plan = await instancePlan(op, ctx, ['down'], 'cannot reinstall');
    // _MergeValidateOsParams: the scripts will see the instance's parameters updated with the given ones.
    const os = (op.os_type as string | null) ?? plan.inst.os;
    const merged = updatedParams(plan.inst.osparams, (op.osparams as Params | null) ?? {});
    await checkOsParams(ctx, [plan.node], true, os, filledOsParams(ctx.cfg.cluster, os, merged), op.force_variant === true);
    return { ...plan, os };
  },
  async exec({ inst, node, os }, op, ctx) {
    const osType = op.os_type as string | null;
    if (osType !== null) await ctx.log(`Changing OS scripts to '${osType}'...`);
    if (!os) {
      if (osType !== null) await ctx.cfg.commit([{ kind: 'instance', obj: { ...inst, os } }]);
      await logInfo(ctx, "No OS scripts or OS image specified or found in the instance's configuration, nothing to install");
      return null;
    }
    // The given parameters (none: {}) are what the instance keeps.
    const given = (op.osparams as Params | null) ?? {};
    const updated = { ...inst, os, osparams: given };
    await ctx.cfg.commit([{ kind: 'instance', obj: updated }]);
    await logInfo(ctx, 'Running instance OS create scripts...');
    const spec = instanceSpec(ctx.cfg, { ...updated, osparams: updatedParams(inst.osparams, given) });
    // StartInstanceDisks / ShutdownInstanceDisks around the scripts (replicas are reachable only while assembled).
    await startInstanceDisks(ctx, updated, false);
    try {
      raiseOn(await osRpc(ctx, node, STEP.osInstall, { spec, reinstall: true, debug: op.debug_level ?? 0 }, 'create'),
        `Could not install OS for instance '${inst.name}' on node '${node.name}'`);
    } finally {
      await shutdownDisks(ctx, updated);
    }
    return null;
  },
});

export const OP_INSTANCE_REMOVE = define<Instance>({
  locks: (op, cfg) => [...instanceLocks(op, cfg), ...nicNetworkLocks(cfg, cfg.byName('instance', String(op.instance_name))?.nics ?? [])],
  prereq: (op, ctx) => findInstance(ctx.cfg, op.instance_name),
  async exec(inst, op, ctx) {
    const node = primaryNode(ctx.cfg, inst);
    await ctx.log(`Shutting down instance ${inst.name} on target node ${node.name}`);
    try {
      requireNodeUp(ctx.cfg, node);
      await ctx.node(node.name, STEP.instanceStop, { name: inst.name, hypervisor: inst.hypervisor, timeout: op.shutdown_timeout });
      if (inst.disks.length) {
        await ctx.log('Removing block devices for instance ' + inst.name);
        if (!(await removeDisks(ctx, inst, node, inst.disks))) throw new Error("Can't remove instance's disks");
      }
    } catch (err) {
      if (!op.ignore_failures) throw new OpExecError(`Could not shutdown instance ${inst.name} on node ${node.name}: ${(err as Error).message}`);
      await ctx.log(`Warning: ${(err as Error).message}`);
    }
    await ctx.log(`Removing instance ${inst.name} out of cluster config`);
    const current = ctx.cfg.instances.get(inst.uuid) ?? inst;
    await ctx.cfg.commit(networkWrites(releaseInstanceIps(ctx.cfg, current)), [{ kind: 'instance', obj: current }]);
    return null;
  },
});

/** LUInstanceQueryData: static config plus, unless `static`, live state. */
export const OP_INSTANCE_QUERY_DATA = define<Instance[]>({
  locks: () => [],
  prereq(op, ctx) {
    const names = op.instances as string[];
    return names.length ? names.map((n) => findInstance(ctx.cfg, n)) : [...ctx.cfg.instances.values()];
  },
  async exec(list, op, ctx) {
    const out: Record<string, unknown> = {};
    for (const inst of list) {
      const node = primaryNode(ctx.cfg, inst);
      let runState: string | null = null;
      if (!op.static) {
        const rt = ctx.cfg.liveRuntime(node.uuid)?.instances[inst.name];
        runState = rt?.state === 'running' ? 'up' : 'down';
      }
      const spec = instanceSpec(ctx.cfg, inst);
      const group = ctx.cfg.groups.get(node.group);
      const snodes = inst.secondary_nodes.map((u) => ctx.cfg.nodes.get(u)).filter((n): n is Node => !!n);
      const status = op.static ? null : await mirrorStatuses(ctx, inst);
      out[inst.name] = {
        name: inst.name, config_state: inst.admin_state, run_state: runState,
        pnode: node.name, pnode_group_uuid: node.group, pnode_group_name: group?.name ?? null,
        snodes: snodes.map((n) => n.name), snodes_group_uuids: snodes.map((n) => n.group),
        snodes_group_names: snodes.map((n) => ctx.cfg.groups.get(n.group)?.name ?? null),
        os: inst.os, network_port: inst.network_port,
        disks: inst.disks.map((d, i) => diskStatus(ctx.cfg, inst, d, i, status)),
        disk_template: inst.disk_template,
        nics: inst.nics.map((n, i) => [n.name, n.uuid, n.mac, n.ip, spec.nics[i].mode, spec.nics[i].link, spec.nics[i].vlan, n.network, null]),
        uuid: inst.uuid, hypervisor: inst.hypervisor,
        hv_instance: inst.hvparams, hv_actual: spec.hvparams,
        be_instance: inst.beparams, be_actual: spec.beparams,
        os_instance: inst.osparams, os_actual: spec.osparams,
        serial_no: inst.serial_no, mtime: inst.mtime, ctime: inst.ctime,
      };
    }
    return out;
  },
});

// ---------------------------------------------------------------------------
// drbd pieces of the instance lifecycle.

/** LUInstanceCreate's mirror node checks (or the allocator's pick when no node was named). */
function mirrorNode(cfg: ConfigStore, op: Opcode, pnode: Node, allocateMem: number | null): Node {
  if (!op.snode) {
    if (allocateMem === null) throw new OpPrereqError('The networked disk templates need a mirror node', 'wrong_input');
    return allocateNode(cfg, allocateMem, [pnode.uuid]);
  }
  const snode = findNode(cfg, op.snode);
  if (snode.uuid === pnode.uuid) throw new OpPrereqError('The secondary node cannot be the primary node', 'wrong_input');
  checkNodeOnline(snode);
  checkNodeNotDrained(snode);
  checkNodeVmCapable(snode);
  requireNodeUp(cfg, snode);
  return snode;
}

/** StartInstanceDisks: replicated disks come up on both nodes before the guest starts. */
export async function startInstanceDisks(ctx: OpContext, inst: Instance, force: boolean): Promise<void> {
  if (!inst.disks.some(isDrbd)) return;
  const [ok] = await assembleDisks(ctx, inst, undefined, { ignoreSecondaries: force });
  if (ok) return;
  await shutdownDisks(ctx, inst);
  if (force) await ctx.log('Disks seem to be not properly activated. Try again with the --force option or use gnt-instance activate-disks.');
  throw new OpExecError('Disk consistency error');
}

/** blockdev_getmirrorstatus of the instance's drbd disks on each of its nodes, by node uuid. */
async function mirrorStatuses(ctx: OpContext, inst: Instance): Promise<Map<string, (MirrorStatus | null)[]>> {
  const out = new Map<string, (MirrorStatus | null)[]>();
  if (!inst.disks.some(isDrbd)) return out;
  for (const u of [inst.primary_node, ...inst.secondary_nodes]) {
    const n = ctx.cfg.nodes.get(u);
    if (!n) continue;
    const r = await mirrorStatus(ctx, inst, n, inst.disks, STATUS_TIMEOUT_MS);
    if (r.ok) out.set(u, r.payload);
    // Ganeti fails the query for an unreachable node; rapid shows its copy's status as unknown (null), so a
    // degraded pair can be seen while its other node is down.
    else if (!r.offline && !r.noAnswer && !unreachable(ctx.cfg, n)) throw new OpExecError(`Can't compute disk status for ${inst.name}: ${r.msg}`);
  }
  return out;
}

/** LUInstanceQueryData._ComputeDiskStatusInner for one disk. */
function diskStatus(cfg: ConfigStore, inst: Instance, d: Disk, i: number, status: Map<string, (MirrorStatus | null)[]> | null): Record<string, unknown> {
  const tuple = (node: string | undefined) => {
    const m = node ? status?.get(node)?.[i] : null;
    return m ? [m.dev_path, m.major, m.minor, m.sync_percent, m.estimated_time, m.is_degraded, m.ldisk_status] : null;
  };
  let drbdInfo: Record<string, unknown> | null = null;
  let logicalId = d.logical_id;
  let snode: string | undefined;
  if (isDrbd(d)) {
    const ids = drbdIdsOf(d);
    const p = ids.nodes[0] === inst.primary_node ? 0 : 1;
    snode = ids.nodes[1 - p];
    drbdInfo = {
      primary_node: cfg.nodes.get(inst.primary_node)?.name ?? null, primary_minor: ids.minors[p],
      secondary_node: cfg.nodes.get(snode!)?.name ?? null, secondary_minor: ids.minors[1 - p], port: ids.port,
    };
    // Ganeti hides the shared secret.
    logicalId = [...(d.logical_id as unknown[]).slice(0, -1), null];
  }
  return {
    iv_name: `disk/${i}`, dev_type: d.dev_type, logical_id: logicalId, drbd_info: drbdInfo,
    pstatus: tuple(diskNodes(inst, d).includes(inst.primary_node) ? inst.primary_node : undefined), sstatus: tuple(snode),
    children: [], mode: d.mode, size: d.size, spindles: d.spindles, name: d.name, uuid: d.uuid,
  };
}
