// Every RAPI resource rapid serves: one table from path to methods, access
// and handler or opcode (Ganeti's connector.GetHandlers + rlib2 classes).
import { resource, type Resource } from './resource.ts';
import * as cluster from './handlers/cluster.ts';
import * as instances from './handlers/instances.ts';
import * as nodes from './handlers/nodes.ts';
import * as jobs from './handlers/jobs.ts';
import { tagMethods } from './handlers/common.ts';

export const RESOURCES: Resource[] = [
  resource('/', { GET: cluster.root }, 'root'),
  resource('/version', { GET: cluster.version }, 'version'),
  resource('/2', { GET: cluster.root }, '2'),
  resource('/2/features', { GET: cluster.features }),
  resource('/2/info', { GET: cluster.info }),
  resource('/2/os', { GET: cluster.osList }),
  resource('/2/tags', tagMethods('cluster')),

  resource('/2/instances', { GET: instances.list, POST: instances.create }),
  resource('/2/instances/[instance_name]', { GET: instances.one, DELETE: instances.remove }),
  resource('/2/instances/[instance_name]/info', { GET: instances.infoJob }),
  resource('/2/instances/[instance_name]/tags', tagMethods('instance', 'instance_name')),
  resource('/2/instances/[instance_name]/reboot', { POST: instances.reboot }),
  resource('/2/instances/[instance_name]/shutdown', { PUT: instances.shutdown }),
  resource('/2/instances/[instance_name]/startup', { PUT: instances.startup }),
  resource('/2/instances/[instance_name]/reinstall', { POST: instances.reinstall }),

  resource('/2/nodes', { GET: nodes.nodeList }),
  resource('/2/nodes/[node_name]', { GET: nodes.nodeOne }),
  resource('/2/nodes/[node_name]/role', { GET: nodes.nodeRole }),
  resource('/2/nodes/[node_name]/tags', tagMethods('node', 'node_name')),

  resource('/2/groups', { GET: nodes.groupList }),
  resource('/2/groups/[group_name]', { GET: nodes.groupOne }),
  resource('/2/groups/[group_name]/tags', tagMethods('nodegroup', 'group_name')),

  resource('/2/jobs', { GET: jobs.list }),
  resource('/2/jobs/[job_id]', { GET: jobs.one, DELETE: jobs.cancel }),
  resource('/2/jobs/[job_id]/wait', { GET: jobs.wait }),
];
