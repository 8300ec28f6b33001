// /2/networks and below (rlib2 R_2_networks*).
import { dryRun, opcode, read, resource, type Call, type Resource } from '../resource.ts';
import { networkDict } from '../views.ts';
import { collection, tagMethods } from './common.ts';

const networks = collection('network', 'network_name', '/2/networks/', 'name', networkDict);

const named = (c: Call) => ({ network_name: c.req.params.network_name });

export const resources: Resource[] = [
  resource('/2/networks', {
    GET: networks.list,
    POST: opcode('OP_NETWORK_ADD', { renames: { name: 'network_name' }, input: (c) => ({ statics: dryRun(c) }) }),
  }),
  resource('/2/networks/[network_name]', {
    GET: read((c) => networkDict(c.svc.cfg, networks.get(c))),
    DELETE: opcode('OP_NETWORK_REMOVE', { input: (c) => ({ statics: { ...named(c), ...dryRun(c) } }) }),
  }),
  // rlib2 gives modify no dry-run.
  resource('/2/networks/[network_name]/modify', { PUT: opcode('OP_NETWORK_SET_PARAMS', { input: (c) => ({ statics: named(c) }) }) }),
  resource('/2/networks/[network_name]/connect', {
    PUT: opcode('OP_NETWORK_CONNECT', { input: (c) => ({ statics: { ...named(c), ...dryRun(c) } }) }),
  }),
  resource('/2/networks/[network_name]/disconnect', {
    PUT: opcode('OP_NETWORK_DISCONNECT', { input: (c) => ({ statics: { ...named(c), ...dryRun(c) } }) }),
  }),
  resource('/2/networks/[network_name]/tags', tagMethods('network', 'network_name')),
];
