// /2/nodes and /2/groups reads (group writes arrive with the tooling issue).
import { notFound } from '../errors.ts';
import { read, type Call, type MethodDef } from '../resource.ts';
import { groupDict, niceSort, nodeDetail, nodeDict, nodeRoleWord } from '../views.ts';
import { uriList } from './common.ts';
import type { Node, NodeGroup } from '../../src/model.ts';

export function getNode(c: Call): Node {
  const node = c.svc.cfg.byName('node', c.req.params.node_name);
  if (!node) throw notFound();
  return node;
}

function sortedByName<T extends { name: string }>(objs: Iterable<T>): T[] {
  const byName = new Map([...objs].map((o) => [o.name, o]));
  return niceSort(byName.keys()).map((n) => byName.get(n)!);
}

export const nodeList: MethodDef = read((c) => {
  const nodes = c.svc.cfg.nodes.values();
  if (!c.req.flag('bulk')) return uriList([...nodes].map((n) => n.name), '/2/nodes/', 'id');
  return sortedByName(nodes).map((n) => nodeDict(c.svc.cfg, n));
});

export const nodeOne: MethodDef = read((c) => {
  c.req.flag('lock');
  return nodeDetail(c.svc.cfg, getNode(c));
});

export const nodeRole: MethodDef = read((c) => {
  c.req.flag('lock');
  return nodeRoleWord(c.svc.cfg, getNode(c));
});

function getGroup(c: Call): NodeGroup {
  const g = c.svc.cfg.byName('nodegroup', c.req.params.group_name);
  if (!g) throw notFound();
  return g;
}

export const groupList: MethodDef = read((c) => {
  const groups = c.svc.cfg.groups.values();
  if (!c.req.flag('bulk')) return uriList([...groups].map((g) => g.name), '/2/groups/', 'name');
  return sortedByName(groups).map((g) => groupDict(c.svc.cfg, g));
});

export const groupOne: MethodDef = read((c) => {
  c.req.flag('lock');
  return groupDict(c.svc.cfg, getGroup(c));
});
