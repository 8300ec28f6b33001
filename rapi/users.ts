// Ganeti's RAPI users file and the Authorization header, following
// ganeti/http/auth.py (ParsePasswordFile, VerifyBasicAuthPassword,
// _CheckAuthorization); options may use upstream's RBAC syntax (rbac.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync, existsSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { resolveOptions, type Permission } from './rbac.ts';

export interface RapiUser {
  name: string;
  options: string[];
  /** null: a classic `read`/`write` line, judged by Ganeti 3.0's access levels. */
  permissions: ReadonlySet<Permission> | null;
}

interface Entry extends RapiUser { password: string }

/** Realm that {HA1} hashes are bound to; fixed by Ganeti's RAPI daemon. */
const REALM = 'Ganeti Remote API';

export class UsersFile {
  private users = new Map<string, Entry>();
  /**
   * Credentials that passed, so clients sending Basic auth with every request
   * (most do) cost a map lookup, not two hashes. Only successes are kept, and
   * only until the file is reloaded.
   */
  private verified = new Map<string, RapiUser>();

  constructor(readonly path: string) {}

  /** (Re)reads the file. Unreadable or missing means no users, as in Ganeti. */
  load(): void {
    this.verified.clear();
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      this.users = new Map();
      return;
    }
    const users = new Map<string, Entry>();
    const lines = text.split(/\r\n|\n|\r/);
    for (const [i, raw] of lines.entries()) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      // Python's split(None, 2): name, password, and the rest as options.
      const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) {
        // Never the line itself: it may be a password pasted on its own.
        console.error(`rapid: ${this.path} line ${i + 1}: ignored, fewer than two fields`);
        continue;
      }
      const options = m[3] ? m[3].split(',').map((o) => o.trim()).filter(Boolean) : [];
      const resolved = resolveOptions(options);
      if (!resolved.ok) {
        console.error(`rapid: ${this.path} line ${i + 1}: user '${m[1]}' ignored: ${resolved.error}`);
        continue;
      }
      users.set(m[1]!, { name: m[1]!, password: m[2]!, options, permissions: resolved.permissions });
    }
    this.users = users;
  }

  /** null when the user is unknown or the password is wrong */
  authenticate(name: string, password: string): RapiUser | null {
    const key = `${name}\0${password}`;
    const hit = this.verified.get(key);
    if (hit) return hit;
    const user = this.users.get(name);
    if (!user || !verifyPassword(name, password, user.password)) return null;
    if (this.verified.size >= 10_000) this.verified.clear();
    const view = publicView(user);
    this.verified.set(key, view);
    return view;
  }

  /** A user by name, without a password check (bearer tokens name their user). */
  get(name: string): RapiUser | null {
    const user = this.users.get(name);
    return user ? publicView(user) : null;
  }
}

function publicView(user: Entry): RapiUser {
  return { name: user.name, options: [...user.options], permissions: user.permissions };
}

function verifyPassword(name: string, given: string, stored: string): boolean {
  // Without a scheme prefix the password is cleartext (pre-{HA1} files).
  if (!stored.startsWith('{')) stored = '{CLEARTEXT}' + stored;
  const end = stored.indexOf('}', 1);
  if (end <= 1) return false; // "{}" or unterminated: no valid scheme
  const scheme = stored.slice(0, end + 1).toUpperCase();
  const expected = stored.slice(end + 1);
  if (scheme === '{CLEARTEXT}') return safeEqual(given, expected);
  if (scheme === '{HA1}') {
    const ha1 = createHash('md5').update(`${name}:${REALM}:${given}`).digest('hex');
    return safeEqual(ha1, expected.toLowerCase());
  }
  return false;
}

/** Constant-time comparison; hashing first makes the lengths equal. */
function safeEqual(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export type Authorization =
  | { kind: 'none' }
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'bad-basic' }
  | { kind: 'empty-basic' }
  | { kind: 'bearer'; token: string }
  | { kind: 'other' };

/**
 * Parse an Authorization header. An absent header is 'none'; a present but
 * empty one is 'other' (Ganeti answers 401 to it). Callers map 'bad-basic'
 * and 'other' to 401, 'empty-basic' to 400 "Basic authentication requires
 * credentials". `Bearer <token>` (RFC 6750) is rapid's addition.
 */
export function parseAuthorization(header: string | undefined): Authorization {
  if (header === undefined) return { kind: 'none' };
  // Ganeti splits on whitespace, compares the scheme case-insensitively
  // (RFC 2617) and ignores anything after the credentials token.
  const [scheme, credentials] = header.trim().split(/\s+/);
  if (scheme?.toLowerCase() === 'bearer') return credentials ? { kind: 'bearer', token: credentials } : { kind: 'other' };
  if (scheme?.toLowerCase() !== 'basic') return { kind: 'other' };
  if (!credentials) return { kind: 'empty-basic' };
  // Stricter than Python's lenient b64decode, which drops stray characters;
  // well-formed clients never send those. Like Ganeti, the decoded
  // credentials must be ASCII.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(credentials) || credentials.length % 4 !== 0) {
    return { kind: 'bad-basic' };
  }
  const bytes = Buffer.from(credentials, 'base64');
  if (bytes.some((b) => b > 0x7f)) return { kind: 'bad-basic' };
  const decoded = bytes.toString('ascii');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'bad-basic' };
  return { kind: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * First start: create the users file with an `admin` user holding a random
 * password and `write`, and return that password for a one-time display.
 * An existing file is never touched (null).
 */
export function ensureUsersFile(path: string): string | null {
  if (existsSync(path)) return null;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url'); // 32 chars
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `# <name> <password> [read,write]\nadmin ${password} write\n`);
    fsyncSync(fd);
    fchmodSync(fd, 0o600); // explicit: the umask must not decide
  } finally {
    closeSync(fd);
  }
  try {
    // link() rather than rename(): it fails when the target exists, so a file
    // created meanwhile (by the operator or a second daemon) is never replaced.
    linkSync(tmp, path);
    return password;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}
