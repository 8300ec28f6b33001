// /2/groups and below (rlib2 R_2_groups*).
import { dryRun, opcode, read, resource, type Call, type Resource } from '../resource.ts';
import { groupDict } from '../views.ts';
import { collection, tagMethods } from './common.ts';

const groups = collection('nodegroup', 'group_name', '/2/groups/', 'name', groupDict);

const named = (c: Call) => ({ group_name: c.req.params.group_name });

export const resources: Resource[] = [
  resource('/2/groups', {
    GET: groups.list,
    POST: opcode('OP_GROUP_ADD', { renames: { name: 'group_name' }, input: (c) => ({ statics: dryRun(c) }) }),
  }),
  resource('/2/groups/[group_name]', {
    GET: read((c) => groupDict(c.svc.cfg, groups.get(c))),
    // rlib2 ignores the body of a group deletion.
    DELETE: opcode('OP_GROUP_REMOVE', { input: (c) => ({ body: null, statics: { ...named(c), ...dryRun(c) } }) }),
  }),
  // The custom_* names are what a group GET shows; rlib2 accepts them back. No dry-run.
  resource('/2/groups/[group_name]/modify', {
    PUT: opcode('OP_GROUP_SET_PARAMS', {
      renames: { custom_ndparams: 'ndparams', custom_ipolicy: 'ipolicy', custom_diskparams: 'diskparams' },
      input: (c) => ({ statics: named(c) }),
    }),
  }),
  resource('/2/groups/[group_name]/rename', {
    PUT: opcode('OP_GROUP_RENAME', { input: (c) => ({ statics: { ...named(c), ...dryRun(c) } }) }),
  }),
  resource('/2/groups/[group_name]/assign-nodes', {
    PUT: opcode('OP_GROUP_ASSIGN_NODES', {
      input: (c) => ({ statics: { ...named(c), ...dryRun(c), force: c.req.flag('force') } }),
    }),
  }),
  resource('/2/groups/[group_name]/tags', tagMethods('nodegroup', 'group_name')),
];
