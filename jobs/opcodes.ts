// Opcodes as rapid submits them: filled from a request like Ganeti's RAPI
// (baserlib.FillOpcode), validated like OpCode.Validate, serialised in
// Ganeti's key order, and summarised like Ganeti's job queue. Refusals carry
// Ganeti's exact texts; the HTTP layer turns them into 400s.
import { ParameterError } from './errors.ts';
import { PyTypeError, isDict, pyTypeName } from './ht.ts';
import { OPCODE_DEFS, type OpcodeDef } from './opcode-defs.ts';
import { pyRepr } from './py.ts';

export type { OpcodeDef, ParamDef } from './opcode-defs.ts';

export type Opcode = Record<string, unknown> & { OP_ID: string };

const DEFS_BY_ID: ReadonlyMap<string, OpcodeDef> = new Map(OPCODE_DEFS.map((def) => [def.id, def]));

/**
 * Parameters holding whole opcodes, which Ganeti validates in turn
 * (OpInstanceMultiAllocBase.Validate).
 */
const NESTED_OPCODES: Readonly<Record<string, string>> = { OP_INSTANCE_MULTI_ALLOC: 'instances' };

/** The definition of an opcode; an unknown OP_ID is refused as Ganeti's LoadOpCode does. */
export function opcodeDef(opId: string): OpcodeDef {
  const def = DEFS_BY_ID.get(opId);
  if (!def) throw new ParameterError(`Invalid data to LoadOpCode: OP_ID ${opId} unsupported`);
  return def;
}

/**
 * Ganeti's baserlib.FillOpcode plus opcode validation: body params (must be a
 * dict or null/undefined), static params (from URL/query, cannot be
 * overridden by the body), renames (old key -> new key, e.g.
 * {name: 'instance_name', os: 'os_type'}). Fills every default, in Ganeti's
 * parameter order with OP_ID last as Ganeti serialises it, then validates
 * every param's type.
 */
export function fillOpcode(
  opId: string,
  body: unknown,
  statics: Record<string, unknown> = {},
  renames: Record<string, string> = {},
): Opcode {
  const def = opcodeDef(opId);
  if (body !== null && body !== undefined && !isDict(body)) {
    throw new ParameterError(`Body contents: Type is '${pyTypeName(body)}', but 'dict' is expected`);
  }
  const params: Record<string, unknown> = { ...body };
  for (const [oldName, newName] of Object.entries(renames)) {
    if (!Object.hasOwn(params, oldName)) continue;
    if (Object.hasOwn(params, newName)) {
      throw new ParameterError(`Parameter '${oldName}' was renamed to '${newName}', but both are specified`);
    }
    // Python's dict.pop and re-insert: the renamed key moves to the end.
    params[newName] = params[oldName];
    delete params[oldName];
  }
  const overwritten = Object.keys(params).filter((key) => Object.hasOwn(statics, key));
  if (overwritten.length > 0) {
    throw new ParameterError(`Can't overwrite static parameters ${pySetRepr(overwritten)}`);
  }
  return buildOpcode(def, { ...params, ...statics });
}

/**
 * Validates an already-built opcode (e.g. the hand-built ones of a reinstall)
 * and returns it complete: defaults filled in, keys in Ganeti's order.
 */
export function validateOpcode(op: Opcode): Opcode {
  if (!isDict(op)) throw new ParameterError(`Invalid data to LoadOpCode (<class '${pyTypeName(op)}'>)`);
  const { OP_ID: opId, ...params } = op;
  if (typeof opId !== 'string') throw new ParameterError('Invalid data to LoadOpcode, missing OP_ID');
  return buildOpcode(opcodeDef(opId), params);
}

/**
 * The job summary, as Ganeti's job queue computes it: OP_ID minus "OP_",
 * plus "(value)" of the OP_DSC_FIELD when the opcode has one.
 */
export function summary(op: Opcode): string {
  const text = op.OP_ID.slice(3);
  const field = opcodeDef(op.OP_ID).dscField;
  if (!field) return text;
  const value = op[field];
  return `${text}(${Array.isArray(value) ? value.map(pyStr).join(',') : pyStr(value)})`;
}

// --- Construction and validation ---------------------------------------------

/** OpCode(**params) followed by Validate: unknown keys first, then each param's check in order. */
function buildOpcode(def: OpcodeDef, given: Record<string, unknown>): Opcode {
  const known = new Set(def.params.map((p) => p.name));
  const unknown = Object.keys(given).find((key) => !known.has(key));
  if (unknown !== undefined) {
    throw invalidBody(`Object ${def.className} doesn't support the parameter '${unknown}'`);
  }
  const op: Record<string, unknown> = {};
  for (const param of def.params) {
    // undefined is JavaScript's "not given" (JSON would drop the key): it takes the default.
    const value = given[param.name];
    op[param.name] = Object.hasOwn(given, param.name) && value !== undefined ? value : structuredClone(param.default);
  }
  op.OP_ID = def.id;
  for (const param of def.params) {
    if (!passes(param.check.check, op[param.name])) throw failsValidation(def, param.name);
  }
  const nested = NESTED_OPCODES[def.id];
  if (nested) op[nested] = (op[nested] as unknown[]).map((inner) => validateNested(def, nested, inner));
  return op as Opcode;
}

function validateNested(def: OpcodeDef, param: string, inner: unknown): Opcode {
  if (!isDict(inner) || typeof inner.OP_ID !== 'string') throw failsValidation(def, param);
  return validateOpcode(inner as Opcode);
}

/** A Python TypeError raised inside a check reaches the client as its text, as in Ganeti. */
function passes(check: (value: unknown) => boolean, value: unknown): boolean {
  try {
    return check(value);
  } catch (err) {
    if (err instanceof PyTypeError) throw invalidBody(err.message);
    throw err;
  }
}

function invalidBody(detail: string): ParameterError {
  return new ParameterError(`Invalid body parameters: ${detail}`);
}

/** Ganeti raises OpPrereqError(msg, ECODE_INVAL); FillOpcode prints its args tuple. */
function failsValidation(def: OpcodeDef, param: string): ParameterError {
  return invalidBody(`(${pyRepr(`Parameter '${def.id}.${param}' fails validation`)}, 'wrong_input')`);
}

// --- Python's text forms -------------------------------------------------------


/** Python's repr() of a set of strings. Python's order follows per-process string hashes; sorted is as valid and stable. */
function pySetRepr(members: string[]): string {
  return `{${[...members].sort().map((m) => pyRepr(m)).join(', ')}}`;
}

/** Python's str() of a summary value. */
function pyStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  // The one numeric OP_DSC_FIELD is OpTestDelay's duration, which 3.0's job
  // queue (Haskell) holds as a Double: 10 shows as 10.0.
  if (typeof value === 'number') return Number.isInteger(value) ? value.toFixed(1) : String(value);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
