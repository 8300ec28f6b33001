// /2/nodes and /2/groups reads (group writes arrive with the tooling issue).
import { read, type MethodDef } from '../resource.ts';
import { groupDict, nodeDetail, nodeDict, nodeRoleWord } from '../views.ts';
import { collection, lookup } from './common.ts';

const nodes = collection('node', 'node_name', '/2/nodes/', 'id', nodeDict);
export const nodeList: MethodDef = nodes.list;
export const nodeOne: MethodDef = read((c) => nodeDetail(c.svc.cfg, nodes.get(c)));
export const nodeRole: MethodDef = read((c) => nodeRoleWord(c.svc.cfg, nodes.get(c)));

const groups = collection('nodegroup', 'group_name', '/2/groups/', 'name', groupDict);
export const groupList: MethodDef = groups.list;
export const groupOne: MethodDef = read((c) => groupDict(c.svc.cfg, lookup(c, 'nodegroup', 'group_name')));
