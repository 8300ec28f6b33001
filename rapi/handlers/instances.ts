// /2/instances and everything below it (rlib2 R_2_instances*).
import { badRequest } from '../errors.ts';
import { RawJson, buildOpcode, dryRun, opcode, read, requireDict, pyType, resource, submitterTrail, type Call, type MethodDef, type Resource } from '../resource.ts';
import { instanceDict, niceSort } from '../views.ts';
import { lookup, tagMethods, uriList } from './common.ts';
import type { Instance } from '../../src/model.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import { fillOpcode } from '../../jobs/opcodes.ts';

/**
 * Bulk listings are the hot read path (every monitoring tool polls them), so
 * each instance's JSON is cached until the instance, the cluster or what its
 * node reports about it changes.
 */
const jsonCache = new WeakMap<Instance, { key: string; json: string }>();

function instanceJson(cfg: ConfigStore, inst: Instance): string {
  const node = cfg.nodes.get(inst.primary_node);
  const rt = node ? cfg.liveRuntime(node.uuid) : undefined;
  const key = `${cfg.cluster.serial_no}|${node?.serial_no}|${node?.offline}|${rt ? JSON.stringify(rt.instances[inst.name] ?? null) : 'down'}|${cfg.networks.size}`;
  const hit = jsonCache.get(inst);
  if (hit && hit.key === key) return hit.json;
  const json = JSON.stringify(instanceDict(cfg, inst));
  jsonCache.set(inst, { key, json });
  return json;
}

/** The whole bulk listing, rebuilt only when something in it may have changed. */
let bulk: { key: string; body: RawJson } | undefined;

export const list: MethodDef = read((c) => {
  const { cfg } = c.svc;
  if (!c.req.flag('bulk')) return uriList([...cfg.instances.values()].map((i) => i.name), '/2/instances/', 'id');
  const key = cfg.viewKey();
  if (bulk?.key !== key) {
    const byName = new Map([...cfg.instances.values()].map((i) => [i.name, i]));
    bulk = { key, body: new RawJson(`[${niceSort(byName.keys()).map((n) => instanceJson(cfg, byName.get(n)!)).join(',')}]`) };
  }
  return bulk.body;
});

export const one: MethodDef = read((c) => new RawJson(instanceJson(c.svc.cfg, lookup(c, 'instance', 'instance_name'))));

/** rlib2._ParseInstanceCreateRequestVersion1 via the __version__ check. */
export const create: MethodDef = {
  access: 'write',
  handle(c) {
    const body = c.req.body === undefined ? {} : requireDict(c.req.body);
    const version = body.__version__ ?? 0;
    if (version === 0) throw badRequest('Instance creation request version 0 is no longer supported');
    if (version !== 1) throw badRequest(`Unsupported request data version ${version}`);
    const { __version__: _, ...params } = body;
    const hv = params.hvparams as Record<string, unknown> | undefined;
    // rlib2 turns space-separated usb_devices into Ganeti's comma list.
    if (hv && typeof hv === 'object' && typeof hv.usb_devices === 'string') {
      params.hvparams = { ...hv, usb_devices: hv.usb_devices.split(' ').join(',') };
    }
    const op = buildOpcode(c, 'OP_INSTANCE_CREATE', { body: params, statics: dryRun(c) }, { name: 'instance_name', os: 'os_type' });
    return c.svc.submit([op]);
  },
};

const instanceStatics = (c: Call) => ({ instance_name: c.req.params.instance_name });

export const remove = opcode('OP_INSTANCE_REMOVE', {
  input: (c) => ({ statics: { ...instanceStatics(c), ignore_failures: false, ...dryRun(c) } }),
});

export const infoJob = opcode('OP_INSTANCE_QUERY_DATA', {
  access: 'none',
  input: (c) => ({ body: {}, statics: { instances: [c.req.params.instance_name], static: c.req.flag('static') } }),
});

export const reboot = opcode('OP_INSTANCE_REBOOT', {
  input: (c) => ({
    statics: {
      ...instanceStatics(c), reboot_type: c.req.str('type', 'hard'),
      ignore_secondaries: c.req.flag('ignore_secondaries'), ...dryRun(c),
    },
  }),
});

export const shutdown = opcode('OP_INSTANCE_SHUTDOWN', {
  input: (c) => ({ statics: { ...instanceStatics(c), no_remember: c.req.flag('no_remember'), ...dryRun(c) } }),
});

export const startup = opcode('OP_INSTANCE_STARTUP', {
  input: (c) => ({
    body: {}, // Ganeti ignores the startup body (but honours depends in it)
    statics: { ...instanceStatics(c), force: c.req.flag('force'), no_remember: c.req.flag('no_remember'), ...dryRun(c) },
  }),
});

/**
 * rlib2.R_2_instances_name_reinstall: body {os, start, osparams} or the legacy
 * ?os=&nostartup=; three opcodes built by hand, without Ganeti's reason
 * trail (rapid still records the submitter).
 */
export const reinstall: MethodDef = {
  access: 'write',
  handle(c) {
    let body: Record<string, unknown>;
    if (c.req.body) {
      if (c.req.hasQuery) throw badRequest("Can't combine query and body parameters");
      body = c.req.body as Record<string, unknown>;
      if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('Invalid body contents, not a dictionary');
    } else if (c.req.hasQuery) {
      body = { os: c.req.str('os'), start: !c.req.flag('nostartup') };
    } else {
      body = {};
    }
    const start = body.start ?? true;
    if (typeof start !== 'boolean') throw badRequest(`'start' parameter: Type is '${pyType(start)}', but 'bool' is expected`);
    const name = c.req.params.instance_name;
    const reason = submitterTrail(c);
    const ops = [
      fillOpcode('OP_INSTANCE_SHUTDOWN', null, { instance_name: name, reason }),
      fillOpcode('OP_INSTANCE_REINSTALL', null, { instance_name: name, os_type: body.os ?? null, osparams: body.osparams ?? null, reason }),
    ];
    if (start) ops.push(fillOpcode('OP_INSTANCE_STARTUP', null, { instance_name: name, force: false, reason }));
    return c.svc.submit(ops);
  },
};

export const resources: Resource[] = [
  resource('/2/instances', { GET: list, POST: create }),
  resource('/2/instances/[instance_name]', { GET: one, DELETE: remove }),
  resource('/2/instances/[instance_name]/info', { GET: infoJob }),
  resource('/2/instances/[instance_name]/tags', tagMethods('instance', 'instance_name')),
  resource('/2/instances/[instance_name]/reboot', { POST: reboot }),
  resource('/2/instances/[instance_name]/shutdown', { PUT: shutdown }),
  resource('/2/instances/[instance_name]/startup', { PUT: startup }),
  resource('/2/instances/[instance_name]/reinstall', { POST: reinstall }),
];
