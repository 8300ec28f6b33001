// Cluster-wide writes (rlib2 R_2_cluster_modify, R_2_redist_config).
import { forbidden } from '../errors.ts';
import { buildOpcode, opcode, requireDict, resource, type MethodDef, type Resource } from '../resource.ts';

/** rlib2 R_2_cluster_modify.PUT_FORBIDDEN: never settable through RAPI, whatever the value. */
const PUT_FORBIDDEN = ['compression_tools'];

/**
 * PUT /2/modify: the body's parameters become OP_CLUSTER_SET_PARAMS.
 * baserlib.InspectParams looks at the query, then the body; without a body
 * Ganeti fails with a 500, rapid answers 400.
 */
export const modify: MethodDef = {
  access: 'write',
  handle(c) {
    const forbid = (keys: Iterable<string>) => {
      for (const key of keys) if (PUT_FORBIDDEN.includes(key)) throw forbidden(`The parameter ${key} cannot be set via RAPI`);
    };
    forbid(c.req.query.keys());
    const body = requireDict(c.req.body ?? null);
    forbid(Object.keys(body));
    return c.svc.submit([buildOpcode(c, 'OP_CLUSTER_SET_PARAMS', { body })]);
  },
};

export const resources: Resource[] = [
  resource('/2/modify', { PUT: modify }, 'cluster_modify'),
  resource('/2/redistribute-config', { PUT: opcode('OP_CLUSTER_REDIST_CONF') }, 'redist_config'),
];
