// Every RAPI resource rapid serves: one table from path to methods, access
// and handler or opcode (Ganeti's connector.GetHandlers + rlib2 classes),
// declared per resource family in rapi/handlers/.
import type { Resource } from './resource.ts';
import * as cluster from './handlers/cluster.ts';
import * as instances from './handlers/instances.ts';
import * as nodes from './handlers/nodes.ts';
import * as groups from './handlers/groups.ts';
import * as jobs from './handlers/jobs.ts';
import * as clusterAdmin from './handlers/cluster-admin.ts';
import * as instanceActions from './handlers/instance-actions.ts';
import * as nodeActions from './handlers/node-actions.ts';
import * as networks from './handlers/networks.ts';
import * as query from './handlers/query.ts';
import * as filters from './handlers/filters.ts';

export const RESOURCES: Resource[] = [
  ...cluster.resources,
  ...instances.resources,
  ...nodes.resources,
  ...groups.resources,
  ...jobs.resources,
  ...clusterAdmin.resources,
  ...instanceActions.resources,
  ...nodeActions.resources,
  ...networks.resources,
  ...query.resources,
  ...filters.resources,
];
