// Bearer tokens (`rapid token create`), so scripts need no password in URLs
// or process lists. The secret is shown to the operator once; Redis keeps only
// its SHA-256, so neither Redis nor its backups hold a usable credential. A
// token acts as its user with whatever the users file grants that user at the
// time of each request.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { K } from '../src/store/keys.ts';

/** rapid:token:<sha256 hex> → hash {user, created, expires, description}. */
const PREFIX = K.tokenPrefix;
/** Hex digits of the hash that name a token in `list` and `revoke`. */
const ID_LENGTH = 12;

export interface TokenInfo {
  id: string;
  user: string;
  /** Unix seconds. */
  created: number;
  /** Unix seconds; null: never. */
  expires: number | null;
  description: string;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');
const nowSeconds = () => Date.now() / 1000;

export const isExpired = (info: TokenInfo, now = nowSeconds()) => info.expires !== null && info.expires <= now;

function parse(hash: string, rec: Record<string, string>): TokenInfo | null {
  if (!rec.user) return null;
  return {
    id: hash.slice(0, ID_LENGTH),
    user: rec.user,
    created: Number(rec.created),
    expires: rec.expires ? Number(rec.expires) : null,
    description: rec.description ?? '',
  };
}

export class TokenStore {
  constructor(private readonly redis: Redis) {}

  /** A new token for `user`; the secret is returned here and nowhere else. */
  async create(user: string, opts: { expiresIn?: number; description?: string } = {}): Promise<{ token: string; info: TokenInfo }> {
    // 256 random bits: a plain hash is then as good as a slow one.
    const token = `rapid_${randomBytes(32).toString('base64url')}`;
    const hash = hashOf(token);
    const now = nowSeconds();
    const created = Math.floor(now);
    // Rounded up: a token never lives shorter than asked.
    const expires = opts.expiresIn === undefined ? null : Math.ceil(now + opts.expiresIn);
    const description = opts.description ?? '';
    const multi = this.redis.multi().hset(PREFIX + hash, {
      user, created: String(created), expires: expires === null ? '' : String(expires), description,
    });
    // Expiry is checked on every use; Redis only cleans up afterwards.
    if (expires !== null) multi.expireat(PREFIX + hash, expires + 1);
    const results = await multi.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('token not stored');
    return { token, info: { id: hash.slice(0, ID_LENGTH), user, created, expires, description } };
  }

  /** The user a presented token acts as; null when unknown, revoked or expired. */
  async resolve(token: string): Promise<string | null> {
    const hash = hashOf(token);
    const info = parse(hash, await this.redis.hgetall(PREFIX + hash));
    return info && !isExpired(info) ? info.user : null;
  }

  /** Every stored token, oldest first (expired ones until Redis drops them). */
  async list(): Promise<TokenInfo[]> {
    const hashes = await this.scan('');
    const recs = await Promise.all(hashes.map((h) => this.redis.hgetall(PREFIX + h)));
    return hashes.map((h, i) => parse(h, recs[i]!))
      .filter((t): t is TokenInfo => t !== null)
      .sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  }

  /**
   * Revoke the token whose hash starts with `id` (as `list` shows it).
   * false when none matches; an error when the prefix is not unique.
   */
  async revoke(id: string): Promise<boolean> {
    if (!/^[0-9a-f]{6,64}$/.test(id)) throw new Error(`invalid token id '${id}'`);
    const hashes = await this.scan(id);
    if (hashes.length > 1) throw new Error(`token id '${id}' is ambiguous`);
    if (!hashes.length) return false;
    return (await this.redis.del(PREFIX + hashes[0])) === 1;
  }

  /** Hashes of the stored tokens starting with `prefix` (hex only: no glob characters). */
  private async scan(prefix: string): Promise<string[]> {
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${PREFIX}${prefix}*`, 'COUNT', 1000);
      for (const k of keys) found.add(k.slice(PREFIX.length));
      cursor = next;
    } while (cursor !== '0');
    return [...found];
  }
}
