// One RAPI request as resource handlers see it: URL items, Ganeti-style query
// arguments (parse_qs: repeated keys, blank values dropped) and the JSON body.
import { badRequest } from './errors.ts';
import type { RapiUser } from './users.ts';

export class RapiRequest {
  readonly query: Map<string, string[]>;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly params: Record<string, string>,
    search: URLSearchParams,
    /** undefined when the request had no body. */
    readonly body: unknown,
    readonly user: RapiUser | null,
  ) {
    this.query = new Map();
    for (const [k, v] of search) {
      if (v === '') continue;
      const list = this.query.get(k);
      if (list) list.push(v);
      else this.query.set(k, [v]);
    }
  }

  get hasQuery(): boolean {
    return this.query.size > 0;
  }

  /** baserlib._checkIntVariable: int(first value), default 0. */
  int(name: string, dflt = 0): number {
    const v = this.query.get(name)?.[0];
    if (v === undefined) return dflt;
    if (!/^\s*[-+]?\d+\s*$/.test(v)) throw badRequest(`Invalid value for the '${name}' parameter`);
    return Number(v);
  }

  flag(name: string): boolean {
    return this.int(name) !== 0;
  }

  /** baserlib._checkStringVariable: the first value, or the default. */
  str(name: string, dflt: string | null = null): string | null {
    return this.query.get(name)?.[0] ?? dflt;
  }

  strs(name: string): string[] {
    return this.query.get(name) ?? [];
  }
}
