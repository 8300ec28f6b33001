// Parameter type checks, mirroring Ganeti 3.0's lib/ht.py: the same names, the
// same combinators and the same description texts (what Ganeti's docs and
// error logs show), applied to JSON values instead of Python objects.
//
// JSON has no tuples, no float/int distinction for whole numbers and no
// Private wrapper, so three Python notions collapse: TTuple never matches,
// TFloat accepts every number (Ganeti retries a failing int as a float, so an
// int is a valid float there too) and TPrivate checks the bare value (Ganeti
// wraps values by their key name when it parses JSON).
import { DISK_TEMPLATES } from '../src/defaults.ts';
import { isDict, pyTruthy, pyTypeName } from './py.ts';
import { ipv4ToInt, isIPv4Network, isIPv6Network, parseIPv6 } from './ipaddress.ts';

/** A check: a predicate plus Ganeti's description of what it accepts. */
export interface Check {
  readonly desc: string;
  check(value: unknown): boolean;
}

/**
 * Python raises TypeError inside a few checks (len() of a number, hashing a
 * list, iterating a number); Ganeti's RAPI then answers 400 with that text.
 */
export class PyTypeError extends Error {}

// jobs/opcodes.ts and src/qlang/filter.ts take these with the checks.
export { isDict, pyTypeName };

/** What Python's iter(value) yields: list items, string characters, dict keys. */
function pyIter(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return [...value];
  if (isDict(value)) return Object.keys(value);
  throw new PyTypeError(`'${pyTypeName(value)}' object is not iterable`);
}

/** Python's len(value). */
function pyLen(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value) || isDict(value)) return pyIter(value).length;
  throw new PyTypeError(`object of type '${pyTypeName(value)}' has no len()`);
}

/** Lists and dicts are unhashable: Python refuses them as set members. */
function assertHashable(value: unknown): void {
  if (typeof value === 'object' && value !== null) {
    throw new PyTypeError(`unhashable type: '${pyTypeName(value)}'`);
  }
}

// --- Descriptions -----------------------------------------------------------

/** ht.Parens: parenthesise a description unless it is a single word. */
export function parens(text: string): string {
  return /^[a-zA-Z0-9_-]+$/.test(text) ? text : `(${text})`;
}

export function withDesc(desc: string, check: (value: unknown) => boolean): Check {
  return { desc, check };
}

/** ht.Comment: same check, description followed by "[text]". */
export function Comment(text: string, inner: Check): Check {
  return withDesc(`${inner.desc} [${text}]`, inner.check);
}

function combinationDesc(op: string, args: readonly Check[]): string {
  return args.length === 1 ? args[0].desc : args.map((a) => parens(a.desc)).join(` ${op} `);
}

// --- Basic types ------------------------------------------------------------

export const TAny = withDesc('Anything', () => true);
export const TNotNone = withDesc('NotNone', (v) => v !== null && v !== undefined);
export const TNone = withDesc('None', (v) => v === null || v === undefined);
/** constants.VALUE_NONE, used to unset values. */
export const TValueNone = withDesc('ValueNone', (v) => v === 'none');
export const TBool = withDesc('Boolean', (v) => typeof v === 'boolean');
export const TInt = withDesc('Integer', (v) => Number.isInteger(v));
export const TFloat = withDesc('Float', (v) => typeof v === 'number' && Number.isFinite(v));
export const TString = withDesc('String', (v) => typeof v === 'string');
export const TTrue = withDesc('EvalToTrue', pyTruthy);
export const TList = withDesc('List', Array.isArray);
/** JSON has no tuples. */
export const TTuple = withDesc('Tuple', () => false);
export const TDict = withDesc('Dictionary', isDict);

type Scalar = string | number;

/**
 * Membership, described "OneOf a, b". Pass a Set where Ganeti's constant is a
 * (frozen)set: Python then hashes the value, and a list or dict raises.
 */
export function TElemOf(values: readonly Scalar[] | ReadonlySet<Scalar>): Check {
  const members = [...values];
  const hashed = values instanceof Set;
  return withDesc(`OneOf ${members.join(', ')}`, (v) => {
    if (hashed) assertHashable(v);
    return members.includes(v as Scalar);
  });
}

export function TIsLength(size: number): Check {
  return withDesc(`Length ${size}`, (v) => pyLen(v) === size);
}

// --- Combinators ------------------------------------------------------------

export function TAnd(...args: Check[]): Check {
  return withDesc(combinationDesc('and', args), (v) => args.every((a) => a.check(v)));
}

export function TOr(...args: Check[]): Check {
  return withDesc(combinationDesc('or', args), (v) => args.some((a) => a.check(v)));
}

export const TMaybe = (test: Check): Check => TOr(TNone, test);
export const TMaybeValueNone = (test: Check): Check => TMaybe(TOr(TValueNone, test));

export const TNonEmptyString = withDesc('NonEmptyString', TAnd(TString, TTrue).check);
export const TMaybeString = TMaybe(TNonEmptyString);
export const TMaybeBool = TMaybe(TBool);
export const TMaybeDict = TMaybe(TDict);
export const TMaybeList = TMaybe(TList);

/** A number >= 0 of the given type (TInt, TFloat or TNumber). */
export function TNonNegative(valType: Check): Check {
  return withDesc('EqualOrGreaterThanZero', (v) => valType.check(v) && (v as number) >= 0);
}

/** A number > 0 of the given type. */
export function TPositive(valType: Check): Check {
  return withDesc('GreaterThanZero', (v) => valType.check(v) && (v as number) > 0);
}

export const TNonNegativeInt = TNonNegative(TInt);
export const TPositiveInt = TPositive(TInt);
export const TMaybePositiveInt = TMaybe(TPositiveInt);
export const TNegativeInt = TAnd(TInt, withDesc('LessThanZero', (v) => (v as number) < 0));
export const TNonNegativeFloat = TAnd(TFloat, withDesc('EqualOrGreaterThanZero', (v) => (v as number) >= 0));
/** A job id: a non-negative integer or its decimal string (constants.JOB_ID_TEMPLATE). */
export const TJobId = withDesc('JobId', (v) => TNonNegativeInt.check(v) || (typeof v === 'string' && /^\d+$/.test(v)));
export const TDouble = TFloat;
export const TNumber = TOr(TInt, TFloat);
export const TRelativeJobId = withDesc('RelativeJobId', TNegativeInt.check);

/** A private (redacted) value; the wrapping itself is implicit in JSON. */
export function TPrivate(valType: Check): Check {
  return withDesc(`Private ${parens(valType.desc)}`, valType.check);
}
/** Ganeti's name for TPrivate where Haskell calls it Secret. */
export const TSecret = TPrivate;

export function TListOf(itemType: Check): Check {
  return withDesc(`List of ${parens(itemType.desc)}`,
    (v) => Array.isArray(v) && v.every((item) => itemType.check(item)));
}

export const TMaybeListOf = (itemType: Check): Check => TMaybe(TListOf(itemType));

/** A fixed-length list whose items have the given types. */
export function TTupleOf(...valTypes: Check[]): Check {
  const desc = `Tuple of ${parens(valTypes.map((t) => t.desc).join(', '))}`;
  return withDesc(desc, TAnd(TOr(TTuple, TList), TIsLength(valTypes.length), TItems(valTypes)).check);
}

/** A list checked as a Python set of it: its members must be hashable. */
export function TSetOf(valType: Check): Check {
  return withDesc(`Set of ${parens(valType.desc)}`, (v) => {
    const members = pyIter(v);
    members.forEach(assertHashable);
    return members.every((m) => valType.check(m));
  });
}

export function TDictOf(keyType: Check, valType: Check): Check {
  const desc = `Dictionary with keys of ${parens(keyType.desc)} and values of ${parens(valType.desc)}`;
  return withDesc(desc, (v) => isDict(v)
    && Object.keys(v).every((k) => keyType.check(k))
    && Object.values(v).every((val) => valType.check(val)));
}

export const TObject = (valType: Check): Check => TDictOf(TAny, valType);

/**
 * A dict with specific keys. `requireAll`: every listed key must be present;
 * `exclusive`: no other key may be.
 */
export function TStrictDict(requireAll: boolean, exclusive: boolean, items: Record<string, Check>): Check {
  const keys = Object.keys(items);
  const desc = 'Dictionary containing'
    + (exclusive ? ' none but the' : '')
    + (requireAll ? ' required' : '')
    + (keys.length === 1 ? ' key ' : ' keys ')
    + keys.map((k) => `"${k}" (value ${items[k].desc})`).join(', ');
  return withDesc(desc, (v) => isDict(v)
    && (!requireAll || keys.every((k) => Object.hasOwn(v, k)))
    && Object.entries(v).every(([k, val]) => (Object.hasOwn(items, k) ? items[k].check(val) : !exclusive)));
}

/** Checks the leading items of a container; extra items on either side are ignored. */
export function TItems(items: readonly Check[]): Check {
  const desc = items.map((c, i) => `${i === 0 ? 'Item' : 'item'} ${i} is ${parens(c.desc)}`).join(', ');
  return withDesc(desc, (v) => {
    const values = pyIter(v);
    return items.every((c, i) => i >= values.length || c.check(values[i]));
  });
}

export function TMaxValue(max: number): Check {
  return withDesc(`Less than ${max}`, (v) => (v as number) < max);
}

// --- Ganeti's enumerations (values from _constants.py) ------------------------

export const DDMS_VALUES = new Set(['add', 'attach', 'detach', 'remove']);
export const DDMS_VALUES_WITH_MODIFY = new Set([...DDMS_VALUES, 'modify'].sort());
export const MAX_DISKS = 16;
export const MAX_NICS = 8;
export const HYPER_TYPES = ['chroot', 'fake', 'kvm', 'lxc', 'xen-hvm', 'xen-pvm'];
export const HT_MIGRATION_MODES = ['live', 'non-live'];
export const NIC_VALID_MODES = ['bridged', 'openvswitch', 'pool', 'routed'];

export const TAllocPolicy = TElemOf(['preferred', 'last_resort', 'unallocable']);
export const TExportTarget = TOr(TNonEmptyString, TList);
export const TExportMode = TElemOf(new Set(['local', 'remote']));
export const TDiskIndex = TAnd(TNonNegativeInt, TMaxValue(MAX_DISKS));
export const TReplaceDisksMode = TElemOf(new Set(['replace_auto', 'replace_new_secondary', 'replace_on_primary', 'replace_on_secondary']));
export const TDiskTemplate = TElemOf(new Set(DISK_TEMPLATES));
export const TEvacMode = TElemOf(new Set(['all', 'primary-only', 'secondary-only']));
export const TIAllocatorTestDir = TElemOf(new Set(['in', 'out']));
export const TIAllocatorMode = TElemOf(new Set(['allocate', 'allocate-secondary', 'change-group', 'multi-allocate', 'node-evacuate', 'relocate']));
export const TImportExportCompression = TElemOf(['gzip', 'gzip-fast', 'gzip-slow', 'lzop', 'none']);
export const TAdminStateSource = TElemOf(new Set(['admin', 'user']));
export const THypervisor = TElemOf(new Set(HYPER_TYPES));
export const TMigrationMode = TElemOf(new Set(HT_MIGRATION_MODES));
export const TNICMode = TElemOf(new Set(NIC_VALID_MODES));
export const TInstCreateMode = TElemOf(new Set(['create', 'import', 'remote-import']));
export const TRebootType = TElemOf(new Set(['full', 'hard', 'soft']));
export const TFileDriver = TElemOf(new Set(['blktap', 'blktap2', 'loop']));
export const TOobCommand = TElemOf(new Set(['health', 'power-cycle', 'power-off', 'power-on', 'power-status']));
/** constants.QR_VIA_OP | constants.QR_VIA_LUXI */
export const TQueryTypeOp = TElemOf(new Set(['cluster', 'export', 'extstorage', 'filter', 'group', 'instance', 'job', 'lock', 'network', 'node', 'os']));
export const TTagKind = TElemOf(new Set(['cluster', 'instance', 'network', 'node', 'nodegroup']));
export const TDdmSimple = TElemOf(DDMS_VALUES);
export const TVerifyOptionalChecks = TElemOf(new Set(['nplusone_mem']));
export const TSshKeyType = TElemOf(new Set(['dsa', 'ecdsa', 'rsa']));
export const TCVErrorCode = TElemOf(new Set([
  'ECLUSTERCERT', 'ECLUSTERCFG', 'ECLUSTERCLIENTCERT', 'ECLUSTERDANGLINGINST', 'ECLUSTERDANGLINGNODES',
  'ECLUSTERFILECHECK', 'EEXTAGS', 'EGROUPDIFFERENTPVSIZE', 'EINSTANCEBADNODE', 'EINSTANCEDOWN',
  'EINSTANCEFAULTYDISK', 'EINSTANCELAYOUT', 'EINSTANCEMISSINGCFGPARAMETER', 'EINSTANCEMISSINGDISK',
  'EINSTANCEPOLICY', 'EINSTANCESPLITGROUPS', 'EINSTANCEUNSUITABLENODE', 'EINSTANCEWRONGNODE', 'ENODEDRBD',
  'ENODEDRBDHELPER', 'ENODEDRBDVERSION', 'ENODEFILECHECK', 'ENODEFILESTORAGEPATHS',
  'ENODEFILESTORAGEPATHUNUSABLE', 'ENODEGLUSTERSTORAGEPATHUNUSABLE', 'ENODEHOOKS', 'ENODEHV', 'ENODELVM',
  'ENODEN1', 'ENODENET', 'ENODEOOBPATH', 'ENODEORPHANINSTANCE', 'ENODEORPHANLV', 'ENODEOS', 'ENODERPC',
  'ENODESETUP', 'ENODESHAREDFILESTORAGEPATHUNUSABLE', 'ENODESSH', 'ENODETIME', 'ENODEUSERSCRIPTS',
  'ENODEVERSION',
]));

/**
 * ht.TStorageType is a bare function in Ganeti, so its description there is a
 * Python function repr; "StorageType" stands in for it.
 */
export const TStorageType = withDesc('StorageType', (v) =>
  ['blockdev', 'diskless', 'ext', 'file', 'gluster', 'lvm-pv', 'lvm-vg', 'rados', 'sharedfile'].includes(v as string));

/** Instance NIC/disk modification lists, new [op, index, params] or legacy [op|index, params] form. */
export function TSetParamsMods(fn: Check): Check {
  const oldModItem = TAnd(TIsLength(2), TItems([TOr(TElemOf(DDMS_VALUES), TNonNegativeInt), fn]));
  const modItem = TAnd(TIsLength(3), TItems([
    TElemOf(DDMS_VALUES_WITH_MODIFY),
    Comment('Device index, can be negative, e.g. -1 for last disk', TOr(TInt, TString)),
    fn,
  ]));
  return TOr(Comment('Recommended', TListOf(modItem)), Comment('Deprecated', TListOf(oldModItem)));
}

export const TINicParams = Comment('NIC parameters', TDictOf(
  TElemOf(new Set(['bridge', 'ip', 'link', 'mac', 'mode', 'name', 'network', 'vlan'])), TMaybe(TString)));
export const TIDiskParams = Comment('Disk parameters', TDictOf(TNonEmptyString, TOr(TNonEmptyString, TInt)));
export const TDiskParams = TIDiskParams;
export const TDiskChanges = TAnd(TIsLength(2), TItems([
  Comment('Disk index', TNonNegativeInt),
  Comment('Parameters', TDiskParams),
]));
export const TRecreateDisksInfo = TOr(TListOf(TNonNegativeInt), TListOf(TDiskChanges));

// --- IP addresses ----------------------------------------------------------

const isString = (v: unknown): v is string => typeof v === 'string';

export const TIPv4Address = TAnd(TString, withDesc('IPv4 address', (v) => isString(v) && ipv4ToInt(v) !== null));
export const TIPv6Address = TAnd(TString, withDesc('IPv6 address', (v) => isString(v) && parseIPv6(v) !== null));
export const TIPv4Network = TAnd(TString, withDesc('IPv4 network', (v) => isString(v) && isIPv4Network(v)));
export const TIPv6Network = TAnd(TString, withDesc('IPv6 network', (v) => isString(v) && isIPv6Network(v)));

// --- Job ids and results ------------------------------------------------------

export const TJobIdListItem = TAnd(TIsLength(2), TItems([
  Comment('success', TBool),
  Comment('Job ID if successful, error message otherwise', TOr(TString, TJobId)),
]));
export const TJobIdList = TListOf(TJobIdListItem);
/** Result of opcodes that submit child jobs: {"jobs": [[true, id], ...]}. */
export const TJobIdListOnly = TStrictDict(true, true, { jobs: Comment('List of submitted jobs', TJobIdList) });
