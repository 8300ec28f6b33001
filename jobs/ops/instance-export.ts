// Instance exports (cmdlib/backup.py): an export is a directory on a node
// holding Ganeti's config.ini and one image per disk, copied from the
// instance's node over a one-time TCP transfer (Ganeti's import/export
// daemons). Remote (inter-cluster) exports are not supported.
import { randomBytes } from 'node:crypto';
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { Instance, Node, Params } from '../../src/model.ts';
import { HVC_GLOBALS, IEC_DEFAULT_TOOLS } from '../../src/defaults.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Opcode } from '../opcodes.ts';
import { pyStr } from '../py.ts';
import { STEP } from '../node-rpc.ts';
import { define, type OpContext } from './context.ts';
import { findInstance, findNode, primaryNode } from './lookup.ts';
import { instanceSpec } from './instance-spec.ts';
import {
  assembleDisks, checkNodeNotDrained, checkNodeOnline, disksActive, instanceOpLocks, ivName,
  raiseOn, removeDisks, rpc,
} from './instance-disks.ts';
import { logWarning } from './feedback.ts';

/** Seconds a disk transfer may take, and a receiver waits for its sender (Ganeti's DISK_TRANSFER_CONNECT_TIMEOUT). */
const TRANSFER_TIMEOUT = 3600;
const CONNECT_TIMEOUT = 60;

export const OP_BACKUP_PREPARE = define<Instance>({
  locks: (op, cfg) => instanceOpLocks(op, cfg),
  prereq(op, ctx) {
    const inst = findInstance(ctx.cfg, op.instance_name);
    checkNodeOnline(primaryNode(ctx.cfg, inst));
    // Remote mode hands out an X509 key and a handshake for another cluster's import.
    if (op.mode === 'remote') throw new OpPrereqError('Remote exports are not supported by rapid', 'wrong_input');
    return inst;
  },
  exec: async () => null,
});

interface ExportPlan { inst: Instance; source: Node; target: Node }

/** CheckArguments and the zeroing/long-sleep checks of LUBackupExport.CheckPrereq. */
function checkExportArguments(op: Opcode): void {
  if (op.mode === 'remote') {
    if (!op.x509_key_name) throw new OpPrereqError('Missing X509 key name for encryption', 'wrong_input');
    if (!op.destination_x509_ca) throw new OpPrereqError('Missing destination X509 CA', 'wrong_input');
  }
  if (op.zero_free_space && !op.compress) throw new OpPrereqError('Zeroing free space does not make sense unless compression is used');
  if (op.zero_free_space && !op.shutdown) throw new OpPrereqError('Unless the instance is shut down, zeroing cannot be used.');
}

function checkExportPrereq(op: Opcode): void {
  if (op.zero_free_space) {
    // rapid has no zeroing image (Ganeti's cluster zeroing_image).
    throw new OpPrereqError('A zeroing image must be set for zeroing to work', 'wrong_input');
  }
  if (op.zeroing_timeout_fixed !== null || op.zeroing_timeout_per_mib !== null) {
    throw new OpPrereqError('Zeroing timeout options can only be used only with the --zero-free-space option', 'wrong_input');
  }
  if (op.long_sleep && !op.shutdown) {
    throw new OpPrereqError('The long sleep option only makes sense when the instance can be shut down.', 'wrong_input');
  }
  const compress = String(op.compress);
  if (compress !== 'none') {
    if (!IEC_DEFAULT_TOOLS.includes(compress)) {
      throw new OpPrereqError(`Compression tool not allowed, tools allowed are [${IEC_DEFAULT_TOOLS.join(', ')}]`, 'wrong_input');
    }
    throw new OpPrereqError(`Compression tool '${compress}' is not supported by rapid; exports are raw images`, 'wrong_input');
  }
}

/** backend.FinalizeExport's config.ini, as Python's ConfigParser writes it. */
export function exportConfig(cfg: ConfigStore, inst: Instance, now = Date.now()): string {
  const spec = instanceSpec(cfg, inst);
  const sections: [string, [string, unknown][]][] = [];
  sections.push(['export', [
    ['version', 0], ['timestamp', Math.floor(now / 1000)], ['source', inst.primary_node], ['os', inst.os], ['compression', 'none'],
  ]]);
  const ins: [string, unknown][] = [
    ['name', inst.name], ['maxmem', spec.beparams.maxmem], ['minmem', spec.beparams.minmem], ['memory', spec.beparams.maxmem],
    ['vcpus', spec.beparams.vcpus], ['disk_template', inst.disks.length ? inst.disks[0].dev_type : 'diskless'],
    ['hypervisor', inst.hypervisor], ['tags', inst.tags.join(' ')],
  ];
  inst.nics.forEach((n, i) => {
    const p = spec.nics[i];
    ins.push([`nic${i}_mac`, n.mac], [`nic${i}_ip`, n.ip], [`nic${i}_network`, n.network], [`nic${i}_name`, n.name],
      [`nic${i}_link`, p.link], [`nic${i}_mode`, p.mode], [`nic${i}_vlan`, p.vlan]);
  });
  ins.push(['nic_count', inst.nics.length]);
  inst.disks.forEach((d, i) => {
    ins.push([`disk${i}_ivname`, ivName(i)], [`disk${i}_dump`, d.uuid], [`disk${i}_size`, d.size], [`disk${i}_name`, d.name]);
  });
  ins.push(['disk_count', inst.disks.length]);
  sections.push(['instance', ins]);
  sections.push(['hypervisor', Object.entries(spec.hvparams).filter(([k]) => !HVC_GLOBALS.includes(k))]);
  sections.push(['backend', Object.entries(spec.beparams)]);
  sections.push(['os', Object.entries(spec.osparams as Params)]);
  sections.push(['os_private', []]);
  return sections.map(([name, kv]) => `[${name}]\n${kv.map(([k, v]) => `${k} = ${pyStr(v)}\n`).join('')}\n`).join('');
}

export const OP_BACKUP_EXPORT = define<ExportPlan>({
  locks: (op, cfg) => instanceOpLocks(op, cfg, [typeof op.target_node === 'string' ? op.target_node : null]),
  prereq(op, ctx) {
    const { cfg } = ctx;
    checkExportArguments(op);
    const target = op.mode === 'local' ? findNode(cfg, typeof op.target_node === 'string' ? op.target_node : JSON.stringify(op.target_node)) : undefined;
    const inst = findInstance(cfg, op.instance_name);
    const source = primaryNode(cfg, inst);
    checkNodeOnline(source);
    if (op.remove_instance && inst.admin_state === 'up' && !op.shutdown) {
      throw new OpPrereqError('Can not remove instance without shutting it down before', 'wrong_state');
    }
    if (!target) {
      const n = Array.isArray(op.target_node) ? op.target_node.length : 0;
      if (n !== inst.disks.length) {
        throw new OpPrereqError(`Received destination information for ${n} disks, but instance ${inst.name} has ${inst.disks.length} disks`, 'wrong_input');
      }
      throw new OpPrereqError('Remote exports are not supported by rapid', 'wrong_input');
    }
    checkNodeOnline(target);
    checkNodeNotDrained(target);
    checkExportPrereq(op);
    return { inst, source, target };
  },
  async exec({ inst, source, target }, op, ctx) {
    if (op.shutdown) {
      await ctx.log(`Shutting down instance ${inst.name}`);
      raiseOn(await rpc(ctx, source, STEP.instanceStop, { name: inst.name, hypervisor: inst.hypervisor, timeout: op.shutdown_timeout }),
        `Could not shutdown instance ${inst.name} on node ${source.name}`);
    }
    const activate = !disksActive(inst);
    if (activate) {
      await ctx.log(`Activating disks for ${inst.name}`);
      const [ok] = await assembleDisks(ctx, inst);
      if (!ok) throw new OpExecError('Disk consistency error');
    }
    let fin = false;
    let dresults: boolean[] = [];
    try {
      // File disks cannot be snapshotted (only lvm, drbd and ext can), so a
      // running instance stays down for the whole copy, if allowed to.
      const trySnapshot = !op.remove_instance && inst.admin_state === 'up';
      const snapshots = trySnapshot && inst.disks.length === 0;
      if (trySnapshot && !snapshots) {
        if (!op.shutdown) throw new OpExecError('Not all disks could be snapshotted, and you requested a live export; aborting');
        if (!op.long_sleep) {
          throw new OpExecError('Not all disks could be snapshotted, and you did not allow the instance to remain offline for a longer time through the --long-sleep option; aborting');
        }
      }
      const reboot = op.shutdown && inst.admin_state === 'up' && !op.remove_instance;
      if (reboot && snapshots) await startAgain(ctx, inst, source);
      [fin, dresults] = await localExport(ctx, inst, source, target);
      if (reboot && !snapshots) await startAgain(ctx, inst, source);
    } finally {
      if (activate) await ctx.log(`Deactivating disks for ${inst.name}`);
    }
    if (!(fin && dresults.every(Boolean))) {
      const failures: string[] = [];
      if (!fin) failures.push('export finalization');
      if (!dresults.every(Boolean)) failures.push(`disk export: disk(s) ${dresults.flatMap((ok, i) => (ok ? [] : [i])).join(', ')}`);
      throw new OpExecError(`Export failed, errors in ${failures.join(', ')}`);
    }
    if (op.remove_instance) {
      await ctx.log(`Removing instance ${inst.name}`);
      await removeInstance(ctx, inst, source, op.ignore_remove_failures === true);
    }
    await cleanupExports(ctx, inst, target);
    return [fin, dresults];
  },
});

/** LUBackupExport.StartInstance. */
async function startAgain(ctx: OpContext, inst: Instance, node: Node): Promise<void> {
  await ctx.log(`Starting instance ${inst.name}`);
  const r = await rpc(ctx, node, STEP.instanceStart, { spec: instanceSpec(ctx.cfg, inst), paused: false });
  if (!r.ok) {
    await ctx.log(`Failed to start instance: ${r.msg}`);
    throw new OpExecError(`Could not start instance: ${r.msg}`);
  }
}

/** ExportInstanceHelper.LocalExport: each disk streamed to the target's export dir, then config.ini. */
async function localExport(ctx: OpContext, inst: Instance, source: Node, target: Node): Promise<[boolean, boolean[]]> {
  const magic = randomBytes(24).toString('hex');
  const files = inst.disks.map((d) => d.uuid);
  const port = raiseOn(
    await rpc<number>(ctx, target, STEP.exportReceive, { instance: inst.name, files, magic, timeout: CONNECT_TIMEOUT }),
    `Could not start receiving the export of ${inst.name} on node ${target.name}`,
  );
  const dresults: boolean[] = [];
  for (const [i, d] of inst.disks.entries()) {
    const label = ivName(i);
    await ctx.log(`Exporting ${label} from ${source.name} to ${target.name}`);
    await ctx.log(`${label} is now listening, starting export`);
    await ctx.log(`${label} is receiving data on ${target.name}`);
    await ctx.log(`${label} is sending data on ${source.name}`);
    const r = await rpc<number>(ctx, source, STEP.exportSend, {
      logical_id: d.logical_id, template: d.dev_type, host: target.secondary_ip, port, magic, file: d.uuid, timeout: TRANSFER_TIMEOUT,
      // With an OS, its export script writes the image (Ganeti's IEIO_SCRIPT); without, the disk is sent as it is.
      ...(inst.os ? { spec: instanceSpec(ctx.cfg, inst), index: i } : {}),
    });
    if (r.ok) {
      await ctx.log(`${label} finished sending data`);
      await ctx.log(`${label} finished receiving data`);
    } else {
      await ctx.log(`${label} failed to send data: ${r.msg} (recent output: None)`);
    }
    dresults.push(r.ok);
  }
  if (!dresults.every(Boolean)) {
    await logWarning(ctx, `Some disk exports have failed; there may be leftover data for instance ${inst.name} on node ${target.name}`);
    return [false, dresults];
  }
  await ctx.log(`Finalizing export on ${target.name}`);
  const fin = await rpc(ctx, target, STEP.exportFinalize, { instance: inst.name, config: exportConfig(ctx.cfg, inst) });
  if (!fin.ok) await logWarning(ctx, `Could not finalize export for instance ${inst.name} on node ${target.name}: ${fin.msg}`);
  return [fin.ok, dresults];
}

/** RemoveInstance after a successful export with remove_instance. */
async function removeInstance(ctx: OpContext, inst: Instance, node: Node, ignoreFailures: boolean): Promise<void> {
  await ctx.log(`Removing block devices for instance ${inst.name}`);
  const ok = await removeDisks(ctx, inst, node, inst.disks);
  if (!ok && !ignoreFailures) throw new OpExecError("Can't remove instance's disks");
  await ctx.log(`Removing instance ${inst.name} out of cluster config`);
  await ctx.cfg.commit([], [{ kind: 'instance', obj: ctx.cfg.instances.get(inst.uuid) ?? inst }]);
}

/** _CleanupExports: an instance has one export in the cluster, the newest. */
async function cleanupExports(ctx: OpContext, inst: Instance, target: Node): Promise<void> {
  const others = [...ctx.cfg.nodes.values()].filter((n) => n.uuid !== target.uuid);
  if (!others.length) return;
  await ctx.log(`Removing old exports for instance ${inst.name}`);
  for (const node of others) {
    const list = await rpc<string[]>(ctx, node, STEP.exportList, {});
    if (!list.ok || !list.payload.includes(inst.name)) continue;
    const r = await rpc(ctx, node, STEP.exportRemove, { instance: inst.name });
    if (!r.ok) await logWarning(ctx, `Could not remove older export for instance ${inst.name} on node ${node.name}: ${r.msg}`);
  }
}
