// What can be done to a node (rlib2 R_2_nodes_name_role, _modify,
// _powercycle, _evacuate, _migrate, _storage, _storage_modify,
// _storage_repair): each request becomes one opcode, built as rlib2 builds it.
import { badRequest } from '../errors.ts';
import { dryRun, opcode, pyType, resource, type Call, type Resource } from '../resource.ts';
import { nodeRole } from './nodes.ts';

const nodeStatics = (c: Call) => ({ node_name: c.req.params.node_name });

/** rlib2's role words and the OP_NODE_SET_PARAMS flags each one sets ("master" is not settable). */
const ROLE_FLAGS = new Map<unknown, Record<'master_candidate' | 'offline' | 'drained', boolean | null>>([
  ['regular', { master_candidate: false, offline: false, drained: false }],
  ['master-candidate', { master_candidate: true, offline: null, drained: null }],
  ['drained', { master_candidate: null, offline: null, drained: true }],
  ['offline', { master_candidate: null, offline: true, drained: null }],
]);

/** The body is a bare JSON string naming the role. */
export const setRole = opcode('OP_NODE_SET_PARAMS', {
  input: (c) => {
    const role = c.req.body;
    if (typeof role !== 'string') throw badRequest(`Body contents: Type is '${pyType(role)}', but 'str' is expected`);
    const flags = ROLE_FLAGS.get(role);
    if (!flags) throw badRequest(`Can't set '${role}' role`);
    return {
      body: {},
      statics: { ...nodeStatics(c), ...flags, force: c.req.flag('force'), auto_promote: c.req.int('auto-promote') !== 0 },
    };
  },
});

export const modify = opcode('OP_NODE_SET_PARAMS', { input: (c) => ({ statics: nodeStatics(c) }) });

export const powercycle = opcode('OP_NODE_POWERCYCLE', {
  input: (c) => ({ statics: { ...nodeStatics(c), force: c.req.flag('force') } }),
});

/** The node-evac-res1 body: {mode, iallocator, remote_node, early_release}. */
export const evacuate = opcode('OP_NODE_EVACUATE', {
  input: (c) => ({ statics: { ...nodeStatics(c), ...dryRun(c) } }),
});

/**
 * node-migrate-reqv1 sends a body; older clients send ?live= or ?mode=.
 * As in rlib2, any query argument selects the old form and the body is ignored.
 */
export const migrate = opcode('OP_NODE_MIGRATE', {
  input: (c) => {
    if (!c.req.hasQuery) return { statics: nodeStatics(c) };
    const { query } = c.req;
    if (query.has('live') && query.has('mode')) throw badRequest("Only one of 'live' and 'mode' should be passed");
    const mode = query.has('live') ? (c.req.int('live', 1) ? 'live' : 'non-live') : c.req.str('mode');
    return { body: { mode }, statics: nodeStatics(c) };
  },
});

/** A GET that submits a job (OP_NODE_QUERY_STORAGE takes locks, hence write access). */
export const storage = opcode('OP_NODE_QUERY_STORAGE', {
  access: 'write',
  input: (c) => {
    const fields = c.req.str('output_fields');
    if (!fields) throw badRequest("Missing the required 'output_fields' parameter");
    return {
      body: {},
      statics: { nodes: [c.req.params.node_name], storage_type: c.req.str('storage_type'), output_fields: fields.split(',') },
    };
  },
});

/** The storage unit a /storage/modify or /storage/repair request names. */
function storageUnit(c: Call) {
  const name = c.req.str('name');
  if (!name) throw badRequest("Missing the required 'name' parameter");
  return { ...nodeStatics(c), storage_type: c.req.str('storage_type'), name };
}

export const storageModify = opcode('OP_NODE_MODIFY_STORAGE', {
  input: (c) => {
    const unit = storageUnit(c);
    const changes = c.req.query.has('allocatable') ? { allocatable: c.req.int('allocatable', 1) !== 0 } : {};
    return { body: {}, statics: { ...unit, changes } };
  },
});

export const storageRepair = opcode('OP_REPAIR_NODE_STORAGE', { input: (c) => ({ body: {}, statics: storageUnit(c) }) });

export const resources: Resource[] = [
  resource('/2/nodes/[node_name]/role', { GET: nodeRole, PUT: setRole }),
  resource('/2/nodes/[node_name]/modify', { POST: modify }),
  resource('/2/nodes/[node_name]/powercycle', { POST: powercycle }),
  resource('/2/nodes/[node_name]/evacuate', { POST: evacuate }),
  resource('/2/nodes/[node_name]/migrate', { POST: migrate }),
  resource('/2/nodes/[node_name]/storage', { GET: storage }),
  resource('/2/nodes/[node_name]/storage/modify', { PUT: storageModify }),
  resource('/2/nodes/[node_name]/storage/repair', { PUT: storageRepair }),
];
