// Who may call what, in upstream Ganeti's role-based access control (PR #1934,
// commit 0641adfb9: lib/rapi/__init__.py, the *_ACCESS of lib/rapi/rlib2.py,
// _resolve_permissions in lib/http/auth.py): the permission names, the one
// each resource method needs, the predefined roles, and how a users-file
// options field turns into a permission set.
import type { Method } from './resource.ts';

/** Upstream's 66 permission names, exactly. */
export const PERMISSIONS = [
  'jobs.list', 'jobs.query', 'jobs.cancel', 'jobs.wait',
  'instances.multi_alloc', 'instances.list', 'instances.create', 'instances.grow_disk', 'instances.modify',
  'instances.remove', 'instances.query', 'instances.info', 'instances.reboot', 'instances.startup',
  'instances.shutdown', 'instances.migrate', 'instances.failover', 'instances.rename', 'instances.reinstall',
  'instances.replace_disks', 'instances.recreate_disks', 'instances.activate_disks', 'instances.deactivate_disks',
  'instances.export.prepare', 'instances.export.create', 'instances.export.remove', 'instances.query.console',
  'os.list',
  'filter.list', 'filter.create', 'filter.query', 'filter.modify', 'filter.remove',
  'nodes.list', 'nodes.query', 'nodes.powercycle', 'nodes.role.query', 'nodes.role.modify', 'nodes.evacuate',
  'nodes.migrate', 'nodes.modify', 'nodes.storage.query', 'nodes.storage.modify', 'nodes.storage.repair',
  'networks.list', 'networks.query', 'networks.create', 'networks.remove', 'networks.connect',
  'networks.disconnect', 'networks.modify', 'networks.rename',
  'groups.list', 'groups.create', 'groups.query', 'groups.delete', 'groups.modify', 'groups.rename',
  'groups.assign_nodes',
  'query.all',
  'cluster.info', 'cluster.modify', 'cluster.redistribute_config',
  'tags.get', 'tags.set', 'tags.delete',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

const KNOWN: ReadonlySet<string> = new Set(PERMISSIONS);
export const isPermission = (s: string): s is Permission => KNOWN.has(s);

/** Every tag resource shares upstream's _R_Tags permissions. */
const TAGS = { GET: 'tags.get', PUT: 'tags.set', DELETE: 'tags.delete' } as const;

/**
 * The permission each method of each resource needs, keyed by Ganeti's rlib2
 * name (R_2_ dropped). `null`: public, as upstream's *_AUTH_REQUIRED = False
 * (only the version-discovery resources). A served method missing here fails
 * test/rbac.test.ts, and at run time it is refused to every RBAC user.
 */
export const RESOURCE_PERMISSIONS: Readonly<Record<string, Readonly<Partial<Record<Method, Permission | null>>>>> = {
  root: { GET: null },
  version: { GET: null },
  2: { GET: null },
  features: { GET: null },
  info: { GET: 'cluster.info' },
  os: { GET: 'os.list' },
  redist_config: { PUT: 'cluster.redistribute_config' },
  cluster_modify: { PUT: 'cluster.modify' },
  tags: TAGS,

  filters: { GET: 'filter.list', POST: 'filter.create' },
  filters_uuid: { GET: 'filter.query', PUT: 'filter.modify', DELETE: 'filter.remove' },

  jobs: { GET: 'jobs.list' },
  jobs_id: { GET: 'jobs.query', DELETE: 'jobs.cancel' },
  jobs_id_wait: { GET: 'jobs.wait' },

  nodes: { GET: 'nodes.list' },
  nodes_name: { GET: 'nodes.query' },
  nodes_name_powercycle: { POST: 'nodes.powercycle' },
  nodes_name_role: { GET: 'nodes.role.query', PUT: 'nodes.role.modify' },
  nodes_name_evacuate: { POST: 'nodes.evacuate' },
  nodes_name_migrate: { POST: 'nodes.migrate' },
  nodes_name_modify: { POST: 'nodes.modify' },
  nodes_name_storage: { GET: 'nodes.storage.query' },
  nodes_name_storage_modify: { PUT: 'nodes.storage.modify' },
  nodes_name_storage_repair: { PUT: 'nodes.storage.repair' },
  nodes_name_tags: TAGS,

  networks: { GET: 'networks.list', POST: 'networks.create' },
  networks_name: { GET: 'networks.query', DELETE: 'networks.remove' },
  networks_name_connect: { PUT: 'networks.connect' },
  networks_name_disconnect: { PUT: 'networks.disconnect' },
  networks_name_modify: { PUT: 'networks.modify' },
  networks_name_rename: { PUT: 'networks.rename' },
  networks_name_tags: TAGS,

  groups: { GET: 'groups.list', POST: 'groups.create' },
  groups_name: { GET: 'groups.query', DELETE: 'groups.delete' },
  groups_name_modify: { PUT: 'groups.modify' },
  groups_name_rename: { PUT: 'groups.rename' },
  groups_name_assign_nodes: { PUT: 'groups.assign_nodes' },
  groups_name_tags: TAGS,

  instances: { GET: 'instances.list', POST: 'instances.create' },
  instances_multi_alloc: { POST: 'instances.multi_alloc' },
  instances_name: { GET: 'instances.query', DELETE: 'instances.remove' },
  instances_name_info: { GET: 'instances.info' },
  instances_name_reboot: { POST: 'instances.reboot' },
  instances_name_startup: { PUT: 'instances.startup' },
  instances_name_shutdown: { PUT: 'instances.shutdown' },
  instances_name_reinstall: { POST: 'instances.reinstall' },
  instances_name_replace_disks: { POST: 'instances.replace_disks' },
  instances_name_activate_disks: { PUT: 'instances.activate_disks' },
  instances_name_deactivate_disks: { PUT: 'instances.deactivate_disks' },
  instances_name_recreate_disks: { POST: 'instances.recreate_disks' },
  instances_name_prepare_export: { PUT: 'instances.export.prepare' },
  instances_name_export: { PUT: 'instances.export.create', DELETE: 'instances.export.remove' },
  instances_name_migrate: { PUT: 'instances.migrate' },
  instances_name_failover: { PUT: 'instances.failover' },
  instances_name_rename: { PUT: 'instances.rename' },
  instances_name_modify: { PUT: 'instances.modify' },
  instances_name_disk_grow: { POST: 'instances.grow_disk' },
  instances_name_console: { GET: 'instances.query.console' },
  // rapid: the serial output kept per instance (Shaken Fist's consoledata).
  instances_name_consoledata: { GET: 'instances.query.console', DELETE: 'instances.modify' },
  instances_name_tags: TAGS,

  query: { GET: 'query.all', PUT: 'query.all' },
  query_fields: { GET: 'query.all' },
};

/**
 * The permission a method needs: a name, null for public, undefined when the
 * table has no entry (a bug the tests catch; callers refuse the request).
 */
export function permissionFor(resource: string, method: Method): Permission | null | undefined {
  return Object.hasOwn(RESOURCE_PERMISSIONS, resource) ? RESOURCE_PERMISSIONS[resource]![method] : undefined;
}

const READONLY: readonly Permission[] = [
  'jobs.list', 'jobs.query', 'instances.list', 'instances.query', 'instances.info', 'nodes.list', 'nodes.query',
  'nodes.role.query', 'networks.list', 'networks.query', 'groups.list', 'groups.query', 'filter.list',
  'filter.query', 'cluster.info', 'tags.get', 'query.all', 'os.list',
];

/** Upstream: read-only plus instance operations that leave the configuration alone. */
const OPERATOR: readonly Permission[] = [
  ...READONLY,
  'instances.startup', 'instances.shutdown', 'instances.reboot', 'instances.migrate', 'instances.failover',
  'instances.replace_disks', 'instances.export.prepare', 'instances.export.create', 'instances.export.remove',
  'instances.query.console',
];

export const ROLES: Readonly<Record<string, ReadonlySet<Permission>>> = {
  admin: new Set(PERMISSIONS),
  readonly: new Set(READONLY),
  operator: new Set(OPERATOR),
};

/** Ganeti 3.0's user options. A line with only these keeps 3.0's access levels exactly. */
const CLASSIC = new Set(['read', 'write']);

/** Upstream's deprecated aliases, when they appear next to RBAC tokens. */
const ALIASES: Readonly<Record<string, string>> = { read: 'readonly', write: 'admin', all: 'admin' };

export type Resolved =
  /** permissions null: a classic line, judged by 3.0's read/write access levels. */
  | { ok: true; permissions: ReadonlySet<Permission> | null }
  | { ok: false; error: string };

/**
 * A users-file options field → the user's permissions, in upstream's fixed
 * order (roles, aliases, explicit names, `+` additions, then `-` removals), so
 * `@admin,-x` and `-x,@admin` mean the same. Unlike upstream, an unknown role
 * or permission is an error: a mistyped `-instances.remove` must not leave the
 * user with more rights than the operator wrote down.
 */
export function resolveOptions(options: readonly string[]): Resolved {
  if (options.every((o) => CLASSIC.has(o))) return { ok: true, permissions: null };
  const roles: string[] = [];
  const explicit: string[] = [];
  const add: string[] = [];
  const remove: string[] = [];
  for (const o of options) {
    if (o.startsWith('@')) roles.push(o.slice(1));
    else if (Object.hasOwn(ALIASES, o)) roles.push(ALIASES[o]!);
    else if (o.startsWith('+')) add.push(o.slice(1));
    else if (o.startsWith('-')) remove.push(o.slice(1));
    else explicit.push(o);
  }
  const unknownRole = roles.find((r) => !Object.hasOwn(ROLES, r));
  if (unknownRole !== undefined) return { ok: false, error: `unknown role '@${unknownRole}'` };
  const unknown = [...explicit, ...add, ...remove].find((p) => !isPermission(p));
  if (unknown !== undefined) return { ok: false, error: `unknown permission '${unknown}'` };
  const permissions = new Set<Permission>();
  for (const r of roles) for (const p of ROLES[r]!) permissions.add(p);
  for (const p of [...explicit, ...add] as Permission[]) permissions.add(p);
  for (const p of remove as Permission[]) permissions.delete(p);
  return { ok: true, permissions };
}
