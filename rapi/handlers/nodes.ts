// /2/nodes and below (rlib2 R_2_nodes*).
import { read, resource, type MethodDef, type Resource } from '../resource.ts';
import { nodeDetail, nodeDict, nodeRoleWord } from '../views.ts';
import { collection, tagMethods } from './common.ts';

const nodes = collection('node', 'node_name', '/2/nodes/', 'id', nodeDict);
export const nodeOne: MethodDef = read((c) => nodeDetail(c.svc.cfg, nodes.get(c)));
export const nodeRole: MethodDef = read((c) => nodeRoleWord(c.svc.cfg, nodes.get(c)));

export const resources: Resource[] = [
  resource('/2/nodes', { GET: nodes.list }),
  resource('/2/nodes/[node_name]', { GET: nodeOne }),
  resource('/2/nodes/[node_name]/tags', tagMethods('node', 'node_name')),
];
