import test from 'ava';
import { ParameterError } from '../jobs/errors.ts';
import * as ht from '../jobs/ht.ts';
import { COMMON_PARAMS, OPCODE_DEFS } from '../jobs/opcode-defs.ts';
import { fillOpcode, opcodeDef, summary, validateOpcode } from '../jobs/opcodes.ts';
import type { Opcode } from '../jobs/opcodes.ts';

import { readReference } from './helpers/reference.ts';

interface Vector {
  name: string;
  status: number;
  body: string;
  request: { body: string | null };
  submitted_ops: Record<string, unknown>[][] | null;
}

const vectors: Vector[] = JSON.parse(readReference('ganeti-vectors.json'));

function vector(name: string): Vector {
  const found = vectors.find((v) => v.name === name);
  if (!found) throw new Error(`no vector named ${name}`);
  return found;
}

/** The 400 message of a vector, un-HTML-escaped (the HTTP layer escapes it). */
function vectorMessage(name: string): string {
  const { message } = JSON.parse(vector(name).body) as { message: string };
  return message.replace(/&#x27;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** A vector's opcode as Ganeti submitted it: the recorder swapped `reason` for `reason_sources`. */
function asSubmitted(recorded: Record<string, unknown>): Opcode {
  const { reason_sources: _sources, OP_ID, ...params } = recorded;
  return { ...params, reason: params.reason ?? [], OP_ID: OP_ID as string };
}

const submittedOps = vectors.flatMap((v) =>
  (v.submitted_ops ?? []).flat().map((op) => ({ vector: v.name, op: asSubmitted(op) })));

// JSON text compares values and key order at every depth.
const json = (value: unknown): string => JSON.stringify(value);

test('the vectors submit opcodes', (t) => {
  t.true(submittedOps.length > 40);
});

test('every opcode a vector submitted validates unchanged', (t) => {
  for (const { vector: name, op } of submittedOps) {
    t.is(json(validateOpcode(op)), json(op), name);
  }
});

test('vector opcodes hold every parameter, in Ganeti order, with OP_ID last', (t) => {
  for (const { vector: name, op } of submittedOps) {
    const def = opcodeDef(op.OP_ID);
    t.deepEqual(Object.keys(op), [...def.params.map((p) => p.name), 'OP_ID'], name);
  }
});

test('fillOpcode rebuilds each vector opcode from its non-default values', (t) => {
  for (const { vector: name, op } of submittedOps) {
    const nonDefaults = Object.fromEntries(opcodeDef(op.OP_ID).params
      .filter((p) => json(op[p.name]) !== json(p.default))
      .map((p) => [p.name, op[p.name]]));
    t.is(json(fillOpcode(op.OP_ID, nonDefaults)), json(op), name);
  }
});

test('fillOpcode fills copies of mutable defaults', (t) => {
  const first = fillOpcode('OP_INSTANCE_STARTUP', { instance_name: 'a' });
  (first.hvparams as Record<string, unknown>).x = 1;
  t.deepEqual(fillOpcode('OP_INSTANCE_STARTUP', { instance_name: 'b' }).hvparams, {});
});

test('a missing body means an empty one', (t) => {
  const statics = { instance_name: 'inst1' };
  t.deepEqual(fillOpcode('OP_INSTANCE_REMOVE', null, statics), fillOpcode('OP_INSTANCE_REMOVE', {}, statics));
  t.deepEqual(fillOpcode('OP_INSTANCE_REMOVE', undefined, statics), fillOpcode('OP_INSTANCE_REMOVE', {}, statics));
});

test('undefined values take the default', (t) => {
  t.is(fillOpcode('OP_INSTANCE_REMOVE', { shutdown_timeout: undefined }, { instance_name: 'i' }).shutdown_timeout, 120);
});

test('renamed keys take the new name', (t) => {
  const op = fillOpcode('OP_GROUP_ADD', { name: 'g2' }, {}, { name: 'group_name' });
  t.is(op.group_name, 'g2');
  t.false('name' in op);
});

// --- Refusals, with Ganeti's texts ---------------------------------------------

/** The statics R_2_instances_name_reboot passes for a plain POST. */
const rebootStatics = (extra: Record<string, unknown> = {}) =>
  ({ instance_name: 'inst1', reboot_type: 'hard', ignore_secondaries: false, dry_run: false, reason: [], ...extra });
const CREATE_RENAMES = { os: 'os_type', name: 'instance_name' };

const refusals: [title: string, attempt: () => unknown, message: string][] = [
  ['bad reboot type (vector)', () => fillOpcode('OP_INSTANCE_REBOOT', null, rebootStatics({ reboot_type: 'bogus' })),
    vectorMessage('reboot bad type -> 400')],
  ['body overriding a static (vector)', () => fillOpcode('OP_INSTANCE_REBOOT', { instance_name: 'x' }, rebootStatics()),
    vectorMessage('reboot body overriding static -> 400')],
  ['body setting a static flag (vector)', () => fillOpcode('OP_INSTANCE_REBOOT', { ignore_secondaries: 1 }, rebootStatics()),
    vectorMessage('reboot body bool as int -> 400')],
  ['unknown body key (vector)', () => fillOpcode('OP_INSTANCE_REBOOT', { foo: 1 }, rebootStatics()),
    vectorMessage('reboot unknown body param -> 400')],
  ['renamed key given twice (vector)',
    () => fillOpcode('OP_INSTANCE_CREATE', { name: 'a', instance_name: 'a', mode: 'create', disks: [], nics: [] },
      { dry_run: false }, CREATE_RENAMES),
    vectorMessage('create both name and instance_name -> 400')],
  // The texts below come from running Ganeti 3.0's baserlib.FillOpcode.
  ['body a list', () => fillOpcode('OP_INSTANCE_REBOOT', [1], rebootStatics()),
    "Body contents: Type is 'list', but 'dict' is expected"],
  ['body a string', () => fillOpcode('OP_INSTANCE_REBOOT', 'x', rebootStatics()),
    "Body contents: Type is 'str', but 'dict' is expected"],
  ['several statics overridden', () => fillOpcode('OP_INSTANCE_REBOOT', { instance_name: 'x', dry_run: true }, rebootStatics()),
    "Can't overwrite static parameters {'dry_run', 'instance_name'}"],
  ['OP_ID in the body', () => fillOpcode('OP_INSTANCE_REBOOT', { OP_ID: 'x' }, rebootStatics()),
    "Invalid body parameters: Object OpInstanceReboot doesn't support the parameter 'OP_ID'"],
  ['wrong type', () => fillOpcode('OP_INSTANCE_RENAME', { new_name: 'b', ip_check: 1 }, { instance_name: 'i' }),
    'Invalid body parameters: ("Parameter \'OP_INSTANCE_RENAME.ip_check\' fails validation", \'wrong_input\')'],
  ['required parameter missing', () => fillOpcode('OP_INSTANCE_RENAME', {}, { instance_name: 'i' }),
    'Invalid body parameters: ("Parameter \'OP_INSTANCE_RENAME.new_name\' fails validation", \'wrong_input\')'],
  ['len() of a number', () => fillOpcode('OP_INSTANCE_SET_PARAMS', { nics: [5] }, { instance_name: 'i' }),
    "Invalid body parameters: object of type 'int' has no len()"],
  ['a list looked up in a set', () => fillOpcode('OP_INSTANCE_REBOOT', null, rebootStatics({ reboot_type: ['x'] })),
    "Invalid body parameters: unhashable type: 'list'"],
  ['a number iterated', () => fillOpcode('OP_CLUSTER_VERIFY', { skip_checks: 5 }),
    "Invalid body parameters: 'int' object is not iterable"],
  ['a dict in a set', () => fillOpcode('OP_CLUSTER_VERIFY', { skip_checks: [{}] }),
    "Invalid body parameters: unhashable type: 'dict'"],
  ['invalid nested opcode',
    () => fillOpcode('OP_INSTANCE_MULTI_ALLOC', { instances: [{ OP_ID: 'OP_INSTANCE_CREATE', instance_name: 'a' }] }),
    'Invalid body parameters: ("Parameter \'OP_INSTANCE_CREATE.disks\' fails validation", \'wrong_input\')'],
  ['nested non-opcode', () => fillOpcode('OP_INSTANCE_MULTI_ALLOC', { instances: [1] }),
    'Invalid body parameters: ("Parameter \'OP_INSTANCE_MULTI_ALLOC.instances\' fails validation", \'wrong_input\')'],
  ['unknown OP_ID', () => validateOpcode({ OP_ID: 'OP_NOPE' }),
    'Invalid data to LoadOpCode: OP_ID OP_NOPE unsupported'],
  ['missing OP_ID', () => validateOpcode({} as Opcode), 'Invalid data to LoadOpcode, missing OP_ID'],
];

for (const [title, attempt, message] of refusals) {
  test(`refuses: ${title}`, (t) => {
    t.throws(attempt, { instanceOf: ParameterError, message });
  });
}

test('validateOpcode checks hand-built opcodes too', (t) => {
  t.throws(() => validateOpcode({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'i', timeout: '120' }), {
    instanceOf: ParameterError,
    message: 'Invalid body parameters: ("Parameter \'OP_INSTANCE_SHUTDOWN.timeout\' fails validation", \'wrong_input\')',
  });
  const op = validateOpcode({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'i' });
  t.is(op.timeout, 120);
  t.is(Object.keys(op).at(-1), 'OP_ID');
});

// --- Summaries -----------------------------------------------------------------

test('summaries as the job queue shows them', (t) => {
  const jobViews = vectors.filter((v) => v.status === 200 && v.body.includes('"summary"'));
  t.true(jobViews.length > 0);
  for (const view of jobViews) {
    const body: unknown = JSON.parse(view.body);
    for (const job of (Array.isArray(body) ? body : [body]) as { ops: Opcode[]; summary: string[] }[]) {
      t.deepEqual(job.ops.map(summary), job.summary, view.name);
    }
  }

  t.is(summary(fillOpcode('OP_INSTANCE_REBOOT', null, rebootStatics())), 'INSTANCE_REBOOT(inst1)');
  t.is(summary(fillOpcode('OP_TAGS_GET', null, { kind: 'cluster' })), 'TAGS_GET(None)');
  t.is(summary(fillOpcode('OP_TAGS_GET', null, { kind: 'instance', name: 'inst1' })), 'TAGS_GET(inst1)');
  t.is(summary(fillOpcode('OP_QUERY', { what: 'instance', fields: ['name'] })), 'QUERY(instance)');
  t.is(summary(fillOpcode('OP_TEST_DELAY', { duration: 10 })), 'TEST_DELAY(10.0)');
  t.is(summary(fillOpcode('OP_TEST_DELAY', { duration: 0.5 })), 'TEST_DELAY(0.5)');
  t.is(summary(fillOpcode('OP_CLUSTER_SET_PARAMS', {})), 'CLUSTER_SET_PARAMS');
  // Ganeti 3.0 gives rename no summary field.
  t.is(summary(fillOpcode('OP_INSTANCE_RENAME', { instance_name: 'a', new_name: 'b' })), 'INSTANCE_RENAME');
});

// --- The definitions themselves ------------------------------------------------

/** opcodes_base._NameToId */
const nameToId = (className: string): string =>
  className.replace(/([a-z])([A-Z])/g, '$1,$2').split(',').map((s) => s.toUpperCase()).join('_');

test('every opcode RAPI submits is defined', (t) => {
  const named = readReference('rapi-resources.json').match(/OP_[A-Z_]+/g) ?? [];
  const extra = ['OP_INSTANCE_QUERY_DATA', 'OP_OS_DIAGNOSE', 'OP_TAGS_GET', 'OP_TAGS_SET', 'OP_TAGS_DEL',
    'OP_NODE_QUERY_STORAGE', 'OP_CLUSTER_QUERY', 'OP_TEST_DELAY'];
  for (const id of new Set([...named, ...extra])) t.notThrows(() => opcodeDef(id), id);
});

test('definitions are consistent', (t) => {
  t.is(new Set(OPCODE_DEFS.map((d) => d.id)).size, OPCODE_DEFS.length);
  for (const def of OPCODE_DEFS) {
    const names = def.params.map((p) => p.name);
    t.is(nameToId(def.className), def.id);
    t.is(new Set(names).size, names.length, def.id);
    t.deepEqual(def.params.slice(-COMMON_PARAMS.length), [...COMMON_PARAMS], def.id);
    if (def.dscField) t.true(names.includes(def.dscField), def.id);
    for (const p of def.params) t.true(p.check.check(p.default) || p.default === null, `${def.id}.${p.name} default`);
  }
});

/** Python prints set members in hash order, so compare OneOf lists sorted. */
function normaliseDesc(desc: string): string {
  return desc
    .replace(/\(<function TStorageType at 0x[0-9a-f]+>\)|<function TStorageType at 0x[0-9a-f]+>/g, 'StorageType')
    .replace(/OneOf ([^()[\]]*?)(?=\)|$| \[)/g, (_, list: string) => `OneOf ${list.split(', ').sort().join(', ')}`);
}

test('definitions match the opcode tables of rapi-reference.md', (t) => {
  const opcodeSection = readReference('rapi-reference.md').split('\n## 6.')[1];
  const sections = opcodeSection.split('\n#### ').slice(1);
  t.true(sections.length > 40);
  for (const section of sections) {
    const [, id, className] = /^(OP_\w+) \(`(\w+)`\)/.exec(section)!;
    const def = opcodeDef(id);
    t.is(def.className, className);
    const rows = [...section.matchAll(/^\| `(\w+)` \| (.*?) \| (.*) \|$/gm)];
    const own = def.params.slice(0, -COMMON_PARAMS.length);
    t.deepEqual(rows.map((r) => r[1]), own.map((p) => p.name), id);
    rows.forEach(([, name, defaultText, desc], i) => {
      t.deepEqual(own[i].default, JSON.parse(defaultText), `${id}.${name} default`);
      const expected = normaliseDesc(desc);
      const actual = normaliseDesc(own[i].check.desc);
      if (desc.endsWith('...')) {
        // Truncated in the reference: compare what precedes the first (unordered) OneOf list.
        const head = (s: string) => s.slice(0, desc.length - 3).split('OneOf')[0];
        t.is(head(actual), head(expected), `${id}.${name}`);
      } else {
        t.is(actual, expected, `${id}.${name}`);
      }
    });
  }
});

// --- ht ------------------------------------------------------------------------

test('check descriptions read like Ganeti', (t) => {
  t.is(ht.TMaybeString.desc, 'None or NonEmptyString');
  t.is(ht.TMaybe(ht.TListOf(ht.TNonEmptyString)).desc, 'None or (List of NonEmptyString)');
  t.is(ht.TNonNegative(ht.TInt).desc, 'EqualOrGreaterThanZero');
  t.is(ht.TPositiveInt.desc, 'GreaterThanZero');
  t.is(ht.TDiskIndex.desc, 'EqualOrGreaterThanZero and (Less than 16)');
  t.is(ht.TTupleOf(ht.TInt, ht.TInt).desc, 'Tuple of (Integer, Integer)');
  t.is(ht.TStrictDict(true, true, { a: ht.TInt }).desc, 'Dictionary containing none but the required key "a" (value Integer)');
  t.is(ht.TElemOf(['a', 'b']).desc, 'OneOf a, b');
});

test('basic checks follow Python types', (t) => {
  t.true(ht.TInt.check(3));
  t.false(ht.TInt.check(true));
  t.false(ht.TInt.check('3'));
  t.true(ht.TFloat.check(3));
  t.false(ht.TBool.check(0));
  t.false(ht.TNonEmptyString.check(''));
  t.true(ht.TNone.check(null));
  t.false(ht.TDict.check([]));
  t.true(ht.TJobId.check('42'));
  t.true(ht.TJobId.check(42));
  t.false(ht.TJobId.check(-1));
  t.true(ht.TTupleOf(ht.TInt, ht.TString).check([1, 'a']));
  t.false(ht.TTupleOf(ht.TInt, ht.TString).check([1, 'a', 2]));
  t.true(ht.TStrictDict(true, true, { a: ht.TInt }).check({ a: 1 }));
  t.false(ht.TStrictDict(true, true, { a: ht.TInt }).check({ a: 1, b: 2 }));
});

// Answers of Python's ipaddress via Ganeti 3.0's ht; Ganeti's 500s (bad
// prefix, host bits set) are plain refusals here.
const ADDRESS_CASES: [ht.Check, unknown, boolean][] = [
  [ht.TIPv4Address, '10.0.0.1', true], [ht.TIPv4Address, '0.0.0.0', true],
  [ht.TIPv4Address, '010.0.0.1', false], [ht.TIPv4Address, '10.0.0', false],
  [ht.TIPv4Address, '10.0.0.256', false], [ht.TIPv4Address, '10.0.0.1/32', false],
  [ht.TIPv4Address, '', false], [ht.TIPv4Address, ' 10.0.0.1', false], [ht.TIPv4Address, 5, false],
  [ht.TIPv4Network, '10.0.0.0/24', true], [ht.TIPv4Network, '10.0.0.0', true],
  [ht.TIPv4Network, '10.0.0.0/255.255.255.0', true], [ht.TIPv4Network, '10.0.0.0/0.0.0.255', true],
  [ht.TIPv4Network, '0.0.0.0/0', true], [ht.TIPv4Network, '10.0.0.0/8/8', false],
  [ht.TIPv4Network, '10.0.0.1/24', false], [ht.TIPv4Network, '10.0.0.0/33', false],
  [ht.TIPv6Address, '::', true], [ht.TIPv6Address, '::1', true], [ht.TIPv6Address, '1::', true],
  [ht.TIPv6Address, 'fe80::1%eth0', true], [ht.TIPv6Address, 'fe80::1%', false],
  [ht.TIPv6Address, '2001:db8::1:2:3:4:5', true], [ht.TIPv6Address, '2001:db8:0:1:2:3:4:5', true],
  [ht.TIPv6Address, '1:2:3:4:5:6:7:8:9', false], [ht.TIPv6Address, '::ffff:10.0.0.1', true],
  [ht.TIPv6Address, '1::2::3', false], [ht.TIPv6Address, ':1::2', false], [ht.TIPv6Address, '1::2:', false],
  [ht.TIPv6Address, '12345::', false], [ht.TIPv6Address, 'g::', false],
  [ht.TIPv6Address, '1:2:3:4:5:6:7::', true], [ht.TIPv6Address, '::1:2:3:4:5:6:7', true],
  [ht.TIPv6Address, '1:2:3:4:5:6:7:8::', false],
  [ht.TIPv6Network, '2001:db8::/32', true], [ht.TIPv6Network, '2001:db8::', true],
  [ht.TIPv6Network, '::/0', true], [ht.TIPv6Network, '2001:db8::1/32', false],
  [ht.TIPv6Network, '2001:db8::/129', false],
];

test('IP addresses and networks parse like Python ipaddress', (t) => {
  for (const [check, value, expected] of ADDRESS_CASES) {
    t.is(check.check(value), expected, `${check.desc}: ${String(value)}`);
  }
});
