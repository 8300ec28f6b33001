// How Python sees JSON values: their type names, truth, str()/repr() forms
// and Ganeti's CommaJoin. Ganeti builds its messages with these, so rapid
// needs them wherever it repeats one of those messages.

/** The Python type name of a JSON value, as in `type(v).__name__`. */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  switch (typeof value) {
    case 'boolean': return 'bool';
    case 'number': return Number.isInteger(value) ? 'int' : 'float';
    case 'string': return 'str';
    default: return Array.isArray(value) ? 'list' : 'dict';
  }
}

export function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Python's bool(value), as `if self.op.x:` tests it. */
export function pyTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isDict(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

/** repr() of a str: single quotes unless only double quotes avoid escaping. */
function pyStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escapes: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', [quote]: `\\${quote}` };
  const body = [...text].map((ch) => {
    if (escapes[ch]) return escapes[ch];
    const code = ch.codePointAt(0)!;
    const unprintable = code < 0x20 || (code >= 0x7f && code <= 0xa0);
    return unprintable ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
  });
  return quote + body.join('') + quote;
}

function pyNumber(n: number, float: boolean): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  return float && Number.isInteger(n) ? `${n}.0` : String(n);
}

/**
 * Python's repr(); numbers under a key typed 'float' in `types` print as
 * floats (JSON cannot tell 1.0 from 1, Ganeti's coerced values can).
 */
export function pyRepr(v: unknown, types: Readonly<Record<string, string>> = {}, key?: string): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return pyNumber(v, key !== undefined && types[key] === 'float');
  if (typeof v === 'string') return pyStrRepr(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x, types)).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x, types, k)}`).join(', ')}}`;
}

/** Python's str(): strings bare, everything else as repr(). */
export const pyStr = (v: unknown): string => (typeof v === 'string' ? v : pyRepr(v));

/** utils.CommaJoin: str() of each item, in order. */
export const commaJoin = (items: Iterable<unknown>): string => [...items].map(pyStr).join(', ');

/** utils.CommaJoin of a Python set, whose order is arbitrary: sorted is one valid order. */
export const commaJoinSet = (items: Iterable<unknown>): string => commaJoin([...new Set(items)].map(pyStr).sort());

/** Whether two JSON values are equal, keys in the same order. */
export const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
