// Ganeti's query2 filter language (qlang.py, query.py _FilterCompilerHelper):
// a filter is a JSON list [operator, operands...] compiled once into a JS
// predicate over rows. Malformed filters fail at compile time with query.py's
// ParameterError texts (400), before any row is read.
//
// Evaluation follows what answers queries in Ganeti 3.0, luxid
// (Query/Filter.hs): a field with no value (status 2-4) lets its leaf pass,
// `!=` is `!` of `==`, and host-name fields compare by name component.
import { ParameterError } from '../../jobs/errors.ts';
import { pyRepr, pyStr } from '../../jobs/py.ts';
import { TBool, TFloat, TInt, TNone, TNumber, TString, TTrue, isDict, pyTypeName, type Check } from '../../jobs/ht.ts';
import { Abnormal, type Field, type FieldKind } from './field.ts';

/** constants.QLANG_OP_*. */
export const OP = {
  OR: '|', AND: '&', NOT: '!', TRUE: '?',
  EQUAL: '==', EQUAL_LEGACY: '=', NOT_EQUAL: '!=',
  LT: '<', LE: '<=', GT: '>', GE: '>=',
  REGEXP: '=~', CONTAINS: '=[]',
} as const;

/** _FilterCompilerHelper._LEVELS_MAX. */
const LEVELS_MAX = 10;

/** query._VERIFY_FN: what a filter value must be to be compared with a field of each kind. */
const VERIFY: Record<Exclude<FieldKind, 'other'>, Check> = {
  unknown: TNone, text: TString, bool: TBool, number: TInt, float: TFloat, unit: TInt, timestamp: TNumber,
};

export type Predicate<R> = (row: R) => boolean;

export interface CompiledFilter<R> {
  test: Predicate<R>;
  /** Every field the filter reads (query.py's hints: what data to collect). */
  fields: ReadonlySet<string>;
}

type Lookup<R> = (name: string) => Field<R> | undefined;

/** What a leaf's test needs of its field. */
type FieldInfo = Pick<Field<unknown>, 'def' | 'hostname' | 'timestamp'>;

/** Compiles a query filter (a JSON value) against a resource's fields. */
export function compileFilter<R>(qfilter: unknown, lookup: Lookup<R>): CompiledFilter<R> {
  const fields = new Set<string>();
  const test = compile(qfilter, 0, (name) => {
    const f = typeof name === 'string' ? lookup(name) : undefined;
    if (!f) throw new ParameterError(`Unknown field '${pyStr(name)}'`);
    fields.add(f.def.name);
    return f;
  });
  return { test, fields };
}

function compile<R>(qfilter: unknown, level: number, field: (name: unknown) => Field<R>): Predicate<R> {
  if (!Array.isArray(qfilter) || qfilter.length === 0) throw new ParameterError(`Invalid filter on level ${level}`);
  if (level >= LEVELS_MAX) {
    throw new ParameterError(`Only up to ${LEVELS_MAX} levels are allowed (filter nested too deep)`);
  }
  const [op, ...operands] = qfilter as unknown[];
  switch (op) {
    case OP.OR:
    case OP.AND: {
      const subs = operands.map((f) => compile(f, level + 1, field));
      return op === OP.OR ? (row) => subs.some((t) => t(row)) : (row) => subs.every((t) => t(row));
    }
    case OP.NOT:
    case OP.TRUE: {
      if (operands.length !== 1) throw new ParameterError(`Unary operator '${op}' expects exactly one operand`);
      if (op === OP.NOT) {
        const inner = compile(operands[0], level + 1, field);
        return (row) => !inner(row);
      }
      const get = field(operands[0]).get;
      return (row) => {
        const v = get(row);
        return v instanceof Abnormal || TTrue.check(v);
      };
    }
    case OP.EQUAL: case OP.EQUAL_LEGACY: case OP.NOT_EQUAL:
    case OP.LT: case OP.LE: case OP.GT: case OP.GE:
    case OP.REGEXP: case OP.CONTAINS:
      return binary(op, operands, field);
    default:
      throw new ParameterError(`Unknown operator '${pyStr(op)}'`);
  }
}

function binary<R>(op: string, operands: unknown[], field: (name: unknown) => Field<R>): Predicate<R> {
  if (operands.length !== 2) throw new ParameterError('Invalid binary operator, expected exactly two operands');
  const [name, value] = operands;
  const f = field(name);
  const { kind } = f.def;
  if (kind !== 'other' && !VERIFY[kind].check(value)) {
    throw new ParameterError(`Unable to compare field '${f.def.name}' (type '${kind}') with '${pyTypeName(value)}', `
      + `expected ${VERIFY[kind].desc}`);
  }
  const leaf = operation(op, f, value);
  const get = f.get;
  // A value the query could not get says nothing against the row (Filter.hs wrapGetter).
  return (row) => {
    const v = get(row);
    return v instanceof Abnormal || leaf(v);
  };
}

/** The test of one binary leaf on a field's (normal) value. */
function operation(op: string, f: FieldInfo, value: unknown): (v: unknown) => boolean {
  switch (op) {
    case OP.EQUAL:
    case OP.EQUAL_LEGACY:
      return equality(f, value);
    case OP.NOT_EQUAL: {
      const eq = equality(f, value);
      return (v) => !eq(v);
    }
    case OP.LT: case OP.LE: case OP.GT: case OP.GE:
      return ordering(op, f, value);
    case OP.REGEXP: {
      const re = pyRegex(value);
      return (v) => {
        if (typeof v !== 'string') {
          throw new ParameterError(`Invalid field value used in regexp matching, expecting string but got '${JSON.stringify(v)}'`);
        }
        return re.test(v);
      };
    }
    default:
      return (v) => contains(v, value);
  }
}

function equality(f: FieldInfo, value: unknown): (v: unknown) => boolean {
  if (f.timestamp) {
    const rhs = splitTimestampValue(f, value);
    return (v) => mergeTime(v) === rhs;
  }
  if (f.hostname && typeof value === 'string') {
    return (v) => (typeof v === 'string' ? nameMatch(v, value) !== null : jsonEqual(v, value));
  }
  return (v) => jsonEqual(v, value);
}

function ordering(op: string, f: FieldInfo, value: unknown): (v: unknown) => boolean {
  const cmp = op === OP.LT ? (c: number) => c < 0 : op === OP.LE ? (c: number) => c <= 0
    : op === OP.GT ? (c: number) => c > 0 : (c: number) => c >= 0;
  if (f.timestamp) {
    const rhs = splitTimestampValue(f, value);
    return (v) => cmp(mergeTime(v) - rhs);
  }
  return (v) => {
    if (typeof v !== typeof value || (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean')) {
      throw new ParameterError(`Invalid types in comparison, trying to compare ${JSON.stringify(v)} with '${JSON.stringify(value)}'`);
    }
    return cmp(v < (value as typeof v) ? -1 : v > (value as typeof v) ? 1 : 0);
  };
}

/** Python's `value in lhs`: list membership, substring, dict key. */
function contains(lhs: unknown, value: unknown): boolean {
  if (Array.isArray(lhs)) return lhs.some((x) => jsonEqual(x, value));
  if (typeof lhs === 'string' && typeof value === 'string') return lhs.includes(value);
  if (isDict(lhs) && typeof value === 'string') return Object.hasOwn(lhs, value);
  throw new ParameterError(`Invalid field value used in list matching, expecting a list but got '${JSON.stringify(lhs)}'`);
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

// ---------------------------------------------------------------------------
// Job timestamps: [seconds, microseconds] compared as one number (QFF_SPLIT_TIMESTAMP).

function mergeTime(v: unknown): number {
  return Array.isArray(v) ? (v[0] as number) + (v[1] as number) / 1e6 : NaN;
}

function splitTimestampValue(f: FieldInfo, value: unknown): number {
  if (typeof value === 'number') return value;
  const ok = Array.isArray(value) && value.length === 2 && value.every((x) => Number.isInteger(x)) && value[1] >= 0 && value[1] < 1e6;
  if (!ok) {
    throw new ParameterError(`Unable to compare field '${f.def.name}' (type 'other') with '${pyTypeName(value)}', `
      + 'expected a timestamp (seconds, microseconds)');
  }
  return mergeTime(value);
}

// ---------------------------------------------------------------------------
// Host names.

/**
 * BasicTypes.compareNameComponent: `lookup` names `canonical` exactly, or as
 * its leading components ("web1" names "web1.example.com"); null otherwise.
 */
export function nameMatch(canonical: string, lookup: string): 'exact' | 'partial' | null {
  if (canonical === lookup) return 'exact';
  return canonical.startsWith(`${lookup}.`) ? 'partial' : null;
}

// ---------------------------------------------------------------------------
// Requested names (Query/Filter.hs requestedNames).

/**
 * The values a filter asks for by its name field when it is nothing but
 * `==` on that field, possibly under `|`: luxid then looks those objects up
 * instead of scanning all. Null when the filter is anything else.
 */
export function requestedNames(qfilter: unknown, namefield: string): unknown[] | null {
  if (qfilter === null || qfilter === undefined) return [];
  if (!Array.isArray(qfilter)) return null;
  const [op, ...operands] = qfilter as unknown[];
  if (op === OP.OR) {
    const out: unknown[] = [];
    for (const sub of operands) {
      const names = requestedNames(sub, namefield);
      if (names === null) return null;
      out.push(...names);
    }
    return out;
  }
  if ((op === OP.EQUAL || op === OP.EQUAL_LEGACY) && operands.length === 2 && operands[0] === namefield) return [operands[1]];
  return null;
}

// ---------------------------------------------------------------------------
// Python regular expressions as JavaScript ones.

/**
 * query._PrepareRegex: compiles a Python `re` pattern. Python's leading
 * inline flags become JS flags, named groups and \A / \Z their JS spelling.
 */
export function pyRegex(pattern: unknown): RegExp {
  if (typeof pattern !== 'string') {
    throw new ParameterError('Invalid regex pattern (first argument must be string or compiled pattern)');
  }
  let src = pattern;
  let flags = '';
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    src = src.slice(inline[0].length);
    for (const fl of inline[1]) {
      if (fl === 'x' || fl === 'L') throw new ParameterError(`Invalid regex pattern (flag '${fl}' is not supported)`);
      if ('ims'.includes(fl) && !flags.includes(fl)) flags += fl;
    }
  }
  try {
    return new RegExp(translateRegex(src), flags);
  } catch (err) {
    throw new ParameterError(`Invalid regex pattern (${(err as Error).message})`);
  }
}

function translateRegex(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\') {
      const next = src[i + 1] ?? '';
      if (!inClass && next === 'A') out += '(?<![\\s\\S])';
      else if (!inClass && next === 'Z') out += '(?![\\s\\S])';
      else out += ch + next;
      i++;
    } else if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
    } else if (ch === '[') {
      inClass = true;
      out += ch;
      if (src[i + 1] === '^') out += src[++i];
      if (src[i + 1] === ']') out += `\\${src[++i]}`; // a leading ] is literal in Python
    } else if (src.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else if (src.startsWith('(?P=', i)) {
      const end = src.indexOf(')', i);
      if (end < 0) throw new ParameterError('Invalid regex pattern (missing ), unterminated name)');
      out += `\\k<${src.slice(i + 4, end)}>`;
      i = end;
    } else {
      out += ch;
    }
  }
  return out;
}

