// Authentication and permission checks in Ganeti's order (server/rapi.py
// PreHandleRequest): credentials are checked whenever they are sent, and a
// method's access level decides whether they are needed at all.
import { badRequest, forbidden, unauthorized } from './errors.ts';
import { parseAuthorization, type RapiUser, type UsersFile } from './users.ts';
import type { Access } from './resource.ts';

/** The user options that grant each access level (rlib2 GET_ACCESS etc.). */
const GRANTING: Record<Access, readonly string[]> = { none: [], read: ['read', 'write'], write: ['write'] };

export function authorize(header: string | undefined, access: Access, requireAuth: boolean, users: UsersFile): RapiUser | null {
  const needed = GRANTING[access];
  const auth = parseAuthorization(header);
  if (auth.kind === 'none') {
    if (requireAuth || needed.length) throw unauthorized();
    return null;
  }
  if (auth.kind === 'empty-basic') throw badRequest('Basic authentication requires credentials');
  if (auth.kind !== 'basic') throw unauthorized();
  const user = users.authenticate(auth.user, auth.password);
  if (!user) throw unauthorized();
  if (needed.length && !user.options.some((o) => needed.includes(o))) throw forbidden();
  return user;
}
