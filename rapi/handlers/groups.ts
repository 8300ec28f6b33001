// /2/groups and below (rlib2 R_2_groups*).
import { read, resource, type Resource } from '../resource.ts';
import { groupDict } from '../views.ts';
import { collection, tagMethods } from './common.ts';

const groups = collection('nodegroup', 'group_name', '/2/groups/', 'name', groupDict);

export const resources: Resource[] = [
  resource('/2/groups', { GET: groups.list }),
  resource('/2/groups/[group_name]', { GET: read((c) => groupDict(c.svc.cfg, groups.get(c))) }),
  resource('/2/groups/[group_name]/tags', tagMethods('nodegroup', 'group_name')),
];
