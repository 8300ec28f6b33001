// Authentication and permission checks in Ganeti's order (server/rapi.py
// PreHandleRequest): credentials are checked whenever they are sent, then the
// method's needs decide. Classic `read`/`write` users get Ganeti 3.0's access
// levels exactly; users with RBAC options need the method's permission from
// rbac.ts. Credentials never grant less than anonymous access would.
import { badRequest, forbidden, unauthorized } from './errors.ts';
import { parseAuthorization, type Authorization, type RapiUser, type UsersFile } from './users.ts';
import { permissionFor } from './rbac.ts';
import type { TokenStore } from './tokens.ts';
import type { Access, Method } from './resource.ts';

/** The user options that grant each access level (rlib2 GET_ACCESS etc.). */
const GRANTING: Record<Access, readonly string[]> = { none: [], read: ['read', 'write'], write: ['write'] };

/** What a request asks for: a method of a resource (by rlib2 name) and its 3.0 access level. */
export interface Need {
  resource: string;
  method: Method;
  access: Access;
}

export interface AuthOptions {
  requireAuth: boolean;
  users: UsersFile;
  /** Without a store, bearer tokens are refused. */
  tokens?: TokenStore;
}

export async function authorize(header: string | undefined, need: Need, o: AuthOptions): Promise<RapiUser | null> {
  // Ganeti 3.0's anonymous rights: whatever needs no option, unless every request must authenticate.
  const anonymousOk = !o.requireAuth && need.access === 'none';
  const auth = parseAuthorization(header);
  if (auth.kind === 'none') {
    if (!anonymousOk) throw unauthorized();
    return null;
  }
  if (auth.kind === 'empty-basic') throw badRequest('Basic authentication requires credentials');
  const user = await identify(auth, o);
  if (!user) throw unauthorized();
  if (!anonymousOk && !permitted(user, need)) throw forbidden();
  return user;
}

async function identify(auth: Authorization, o: AuthOptions): Promise<RapiUser | null> {
  if (auth.kind === 'basic') return o.users.authenticate(auth.user, auth.password);
  if (auth.kind === 'bearer' && o.tokens) {
    const name = await o.tokens.resolve(auth.token);
    // The users file stays the authority: a removed user's tokens stop working.
    return name === null ? null : o.users.get(name);
  }
  return null;
}

function permitted(user: RapiUser, need: Need): boolean {
  if (user.permissions === null) {
    const granting = GRANTING[need.access];
    return !granting.length || user.options.some((o) => granting.includes(o));
  }
  const permission = permissionFor(need.resource, need.method);
  if (permission === undefined) {
    console.error(`rapid: ${need.method} ${need.resource} has no permission in rapi/rbac.ts; refused`);
    return false;
  }
  if (permission === null || user.permissions.has(permission)) return true;
  // As upstream: the log names the permission, the 403 does not.
  console.error(`rapid: user '${user.name}' lacks permission '${permission}' for ${need.method} ${need.resource}`);
  return false;
}
