// Every RAPI resource rapid serves: one table from path to methods, access
// and handler or opcode (Ganeti's connector.GetHandlers + rlib2 classes),
// declared per resource family in rapi/handlers/.
import type { Resource } from './resource.ts';
import * as cluster from './handlers/cluster.ts';
import * as instances from './handlers/instances.ts';
import * as nodes from './handlers/nodes.ts';
import * as groups from './handlers/groups.ts';
import * as jobs from './handlers/jobs.ts';

export const RESOURCES: Resource[] = [
  ...cluster.resources,
  ...instances.resources,
  ...nodes.resources,
  ...groups.resources,
  ...jobs.resources,
];
