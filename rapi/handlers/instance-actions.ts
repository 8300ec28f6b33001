// What can be done to an existing instance beyond its lifecycle (rlib2
// R_2_instances_name_modify … _console) and multi-instance allocation.
import { HttpError, badRequest } from '../errors.ts';
import { RawBody, buildOpcode, dryRun, opcode, read, requireDict, pyType, resource, type Call, type MethodDef, type Resource } from '../resource.ts';
import { instanceDict, nodeNdParams } from '../views.ts';
import { lookup } from './common.ts';
import { fillOpcode } from '../../jobs/opcodes.ts';
import { fakeConsole } from '../../hypervisor/fake.ts';
import { kvmConsole } from '../../hypervisor/kvm-console.ts';
import { STEP } from '../../jobs/node-rpc.ts';
import type { Instance } from '../../src/model.ts';

const instanceStatics = (c: Call) => ({ instance_name: c.req.params.instance_name });

/** The body as given, with the instance from the URL. */
const bodyOpcode = (opId: string, renames?: Record<string, string>) =>
  opcode(opId, { renames, input: (c) => ({ statics: instanceStatics(c) }) });

/** Python's int() of a string (surrounding whitespace allowed), or its ValueError text. */
function pyInt(text: string): number {
  if (!/^\s*[-+]?\d+\s*$/.test(text)) throw new Error(`invalid literal for int() with base 10: '${text}'`);
  return Number(text);
}

/** R_2_instances_name_modify: custom_* renamed, usb_devices as in creation; no body is refused (Ganeti fails with a 500). */
const modify: MethodDef = {
  access: 'write',
  handle(c) {
    const data = { ...requireDict(c.req.body ?? null) };
    const hv = data.hvparams as Record<string, unknown> | undefined;
    if (hv && typeof hv === 'object' && !Array.isArray(hv) && typeof hv.usb_devices === 'string') {
      data.hvparams = { ...hv, usb_devices: hv.usb_devices.replace(/ /g, ',') };
    }
    const op = buildOpcode(c, 'OP_INSTANCE_SET_PARAMS', { body: data, statics: instanceStatics(c) },
      { custom_beparams: 'beparams', custom_hvparams: 'hvparams' });
    return c.svc.submit([op]);
  },
};

/** R_2_instances_name_disk_grow: the disk index comes from the URL (digits only, as Ganeti's route). */
const grow = opcode('OP_INSTANCE_GROW_DISK', {
  input: (c) => ({ statics: { ...instanceStatics(c), disk: Number(c.req.params.disk_index) } }),
});

/**
 * R_2_instances_name_replace_disks: a body, or else the legacy query
 * arguments the official client still sends; `disks` may be a list of
 * indexes or the string "0,1".
 */
const replaceDisks: MethodDef = {
  access: 'write',
  handle(c) {
    const body = c.req.body;
    let data: Record<string, unknown>;
    if (body !== undefined && body !== null && !(typeof body === 'object' && !Array.isArray(body) && !Object.keys(body).length)) {
      data = { ...requireDict(body) };
    } else if (c.req.hasQuery) {
      data = { remote_node: c.req.str('remote_node'), mode: c.req.str('mode'), disks: c.req.str('disks'), iallocator: c.req.str('iallocator') };
    } else {
      data = {};
    }
    if ('disks' in data) {
      const raw = data.disks;
      delete data.disks;
      if (raw !== null && raw !== false && raw !== 0 && raw !== '' && !(Array.isArray(raw) && !raw.length)) {
        if (Array.isArray(raw) && raw.every((x) => Number.isInteger(x))) data.disks = raw;
        else if (typeof raw === 'string') {
          try {
            data.disks = raw.split(',').map(pyInt);
          } catch (err) {
            throw badRequest(`Invalid disk index passed: ${(err as Error).message}`);
          }
        } else {
          throw badRequest(`Invalid disk index passed: '${pyType(raw)}' object has no attribute 'split'`);
        }
      }
    }
    return c.svc.submit([buildOpcode(c, 'OP_INSTANCE_REPLACE_DISKS', { body: data, statics: instanceStatics(c) })]);
  },
};

/**
 * Console descriptions per hypervisor (Ganeti's GetInstanceConsole), made
 * from configuration alone as Ganeti's master does.
 */
const CONSOLES: Record<string, (c: Call, inst: Instance, view: Record<string, unknown>) => Record<string, unknown> | null> = {
  fake: (_c, inst) => fakeConsole(inst.name),
  kvm: (c, inst, view) => {
    const node = c.svc.cfg.nodes.get(inst.primary_node);
    const runDir = node && c.svc.cfg.liveRuntime(node.uuid)?.kvm_run_dir;
    if (!node || !runDir) return null;
    return kvmConsole({
      instance: inst, node: { name: node.name, sshPort: nodeNdParams(c.svc.cfg, node)?.ssh_port },
      hvparams: view.hvparams as Record<string, unknown>, runDir,
    });
  },
};

/** R_2_instances_name_console: only a running instance has a console. */
const consoleInfo: MethodDef = read((c) => {
  const inst = lookup(c, 'instance', 'instance_name');
  const view = instanceDict(c.svc.cfg, inst);
  const described = view.oper_state === true ? CONSOLES[inst.hypervisor]?.(c, inst, view) : null;
  if (!described) throw new HttpError(503, 'Instance console unavailable');
  return described;
}, 'read');

/** Shaken Fist's default for consoledata: the last 10 KiB. */
const CONSOLE_DATA_LENGTH = 10240;

/**
 * rapid's consoledata (Shaken Fist's resource of that name): the serial
 * output the primary node keeps for the instance, across its boots, as raw
 * bytes; `length` -1 for all of it. DELETE forgets it.
 */
const consoleData: MethodDef = read(async (c) => {
  const inst = lookup(c, 'instance', 'instance_name');
  const length = c.req.int('length', CONSOLE_DATA_LENGTH);
  const node = c.svc.cfg.nodes.get(inst.primary_node)!;
  const b64 = await c.svc.node(node.name, STEP.consoleOutput, { hypervisor: inst.hypervisor, name: inst.name, length }, 10_000);
  return new RawBody(Buffer.from(String(b64 ?? ''), 'base64'), 'application/octet-stream');
}, 'read');

const clearConsoleData: MethodDef = {
  access: 'write',
  async handle(c) {
    const inst = lookup(c, 'instance', 'instance_name');
    const node = c.svc.cfg.nodes.get(inst.primary_node)!;
    await c.svc.node(node.name, STEP.consoleClear, { hypervisor: inst.hypervisor, name: inst.name }, 10_000);
    return null;
  },
};

/**
 * R_2_instances_multi_alloc: each instance is filled as an OP_INSTANCE_CREATE
 * of its own (name → instance_name, os → os_type), without a reason trail.
 */
const multiAlloc: MethodDef = {
  access: 'write',
  handle(c) {
    const body = requireDict(c.req.body ?? null);
    if (!('instances' in body)) throw badRequest("Request is missing required 'instances' field in body");
    const instances = Array.isArray(body.instances)
      ? body.instances.map((inst) => fillOpcode('OP_INSTANCE_CREATE', inst, {}, { os: 'os_type', name: 'instance_name' }))
      : body.instances;
    return c.svc.submit([buildOpcode(c, 'OP_INSTANCE_MULTI_ALLOC', { body: { ...body, instances }, statics: dryRun(c) })]);
  },
};

export const resources: Resource[] = [
  resource('/2/instances-multi-alloc', { POST: multiAlloc }),
  resource('/2/instances/[instance_name]/modify', { PUT: modify }),
  resource('/2/instances/[instance_name]/rename', { PUT: bodyOpcode('OP_INSTANCE_RENAME') }),
  resource('/2/instances/[instance_name]/activate-disks', {
    PUT: opcode('OP_INSTANCE_ACTIVATE_DISKS', { input: (c) => ({ body: {}, statics: { ...instanceStatics(c), ignore_size: c.req.flag('ignore_size') } }) }),
  }),
  resource('/2/instances/[instance_name]/deactivate-disks', {
    PUT: opcode('OP_INSTANCE_DEACTIVATE_DISKS', { input: (c) => ({ body: {}, statics: { ...instanceStatics(c), force: c.req.flag('force') } }) }),
  }),
  resource('/2/instances/[instance_name]/recreate-disks', { POST: bodyOpcode('OP_INSTANCE_RECREATE_DISKS') }),
  resource('/2/instances/[instance_name]/disk/[disk_index]/grow', { POST: grow }),
  resource('/2/instances/[instance_name]/prepare-export', {
    PUT: opcode('OP_BACKUP_PREPARE', { input: (c) => ({ body: {}, statics: { ...instanceStatics(c), mode: c.req.str('mode') } }) }),
  }),
  resource('/2/instances/[instance_name]/export', { PUT: bodyOpcode('OP_BACKUP_EXPORT', { destination: 'target_node' }) }),
  resource('/2/instances/[instance_name]/migrate', { PUT: bodyOpcode('OP_INSTANCE_MIGRATE') }),
  resource('/2/instances/[instance_name]/failover', { PUT: bodyOpcode('OP_INSTANCE_FAILOVER') }),
  resource('/2/instances/[instance_name]/console', { GET: consoleInfo }),
  resource('/2/instances/[instance_name]/consoledata', { GET: consoleData, DELETE: clearConsoleData }),
  resource('/2/instances/[instance_name]/replace-disks', { POST: replaceDisks }),
];
