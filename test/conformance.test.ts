// Conformance with Ganeti 3.0.2's RAPI: every vector of
// ../shared/reference/ganeti-vectors.json (requests replayed against Ganeti's
// own server code) is replayed against a real rapid daemon.
//
// - Status codes, error bodies (code, message, explain), Content-Type and
//   WWW-Authenticate are compared exactly; Connection and Server are ignored
//   (decisions.md).
// - Job-submitting vectors: the answer is a bare job id; the job's opcodes
//   must equal the vector's submitted_ops, key order included.
// - GET data vectors hold placeholder values: key sets, key order and value
//   types are compared, plus the values rapid's fixture makes certain.
// - Where decisions.md overrides a vector, rapid's decided behaviour is
//   asserted instead (see DEVIATIONS).
// - Vectors on resources rapid does not serve yet are replayed in one test
//   that expects a consistent 404/501 and logs their names.
//
// All tests are serial: the fixture instance `inst1` is deleted by one of the
// vectors, so every vector that submits no job runs first.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedis, type RedisProc } from './helpers/redis.ts';
import { startRapid, type RapidProc } from './helpers/rapid.ts';
import { rapi, waitForJob, type RapiResponse, type Target } from './helpers/http.ts';
import {
  findResource, isDict, jsonType, loadVectors, toVectorForm, type ReasonEntry, type Vector,
} from './helpers/vectors.ts';
import { RESOURCES } from '../rapi/resources.ts';
import { K } from '../src/store/keys.ts';

const vectors = loadVectors();
const vector = (name: string): Vector => {
  const v = vectors.find((x) => x.name === name);
  if (!v) throw new Error(`no vector named ${JSON.stringify(name)}`);
  return v;
};

// ---- users, auth headers and fixture names -----------------------------------

const PASSWORDS: Record<string, string> = {
  writer: 'writer-secret',
  reader: 'reader-secret',
  ro: 'ro-secret',
  ha1: 'ha1-secret',
  nobody: 'nobody-secret', // not in the users file
};
const ha1Hash = createHash('md5').update(`ha1:Ganeti Remote API:${PASSWORDS.ha1}`).digest('hex');
const USERS = [
  '# users of the Ganeti vectors',
  `writer ${PASSWORDS.writer} write`,
  `reader ${PASSWORDS.reader} read`,
  `ro ${PASSWORDS.ro}`,
  `ha1 {HA1}${ha1Hash} write`,
  '',
].join('\n');
const WRITER = { user: 'writer', password: PASSWORDS.writer };

/** Authorization headers that some vectors name but do not record. */
const AUTH_HEADERS: Record<string, string> = {
  'Digest scheme -> 401':
    'Digest username="writer", realm="Ganeti Remote API", nonce="0123456789abcdef", ' +
    'uri="/2/instances/inst1/reboot", response="00000000000000000000000000000000"',
  'Basic without credentials -> 400': 'Basic',
  'Basic with garbage base64 -> 401': 'Basic @@@not-base64@@@',
};

const NODE = 'node1.example.com';
/** Vectors use both names: `inst1.example.com` for GETs, `inst1` for writes. */
const INSTANCES = ['inst1.example.com', 'inst1'];
/** The vectors' job id: rapid's counter is set so the first fixture job gets it. */
const JOB = 4242;

/**
 * Ganeti's stub master answered any name; the one node of this fixture is
 * node1.example.com, so the role GET of the vector's short name `node1` asks
 * for the full name (rapid, like Ganeti's queries, matches names exactly).
 */
const PATH_REWRITES: Record<string, string> = {
  'node role get': `/2/nodes/${NODE}/role`,
};

// ---- daemons --------------------------------------------------------------------

let redis: RedisProc | undefined;
let rapid: RapidProc | undefined;
let authRedis: RedisProc | undefined;
let authRapid: Promise<RapidProc> | undefined;
const daemon = (): RapidProc => {
  if (!rapid) throw new Error('rapid did not start');
  return rapid;
};

/** The daemon with RAPID_REQUIRE_AUTH=1, on its own redis and data dir; started by the first test needing it. */
function requireAuthDaemon(): Promise<RapidProc> {
  authRapid ??= (async () => {
    authRedis = await startRedis();
    return startRapid({ redisUrl: authRedis.url, users: USERS, env: { RAPID_NODE_NAME: NODE, RAPID_REQUIRE_AUTH: '1' } });
  })();
  return authRapid;
}

async function untilNodeLive(target: Target, deadlineMs: number): Promise<void> {
  for (;;) {
    const r = await rapi(target, 'GET', `/2/nodes/${NODE}`);
    if (r.status === 200 && r.json?.mtotal !== null && r.json?.mtotal !== undefined) return;
    if (Date.now() > deadlineMs) throw new Error(`node ${NODE} not live: ${r.status} ${r.text}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function createInstance(target: Target, name: string): Promise<number> {
  const r = await rapi(target, 'POST', '/2/instances', {
    ...WRITER,
    body: {
      __version__: 1, mode: 'create', name, os: 'noop', hypervisor: 'fake', disk_template: 'diskless',
      disks: [], nics: [{}], pnode: NODE, name_check: false, ip_check: false, start: true,
    },
  });
  if (r.status !== 200 || typeof r.json !== 'number') throw new Error(`creating ${name}: ${r.status} ${r.text}`);
  const job = await waitForJob(target, r.json, undefined, 20_000);
  if (job.status !== 'success') throw new Error(`creating ${name} failed: ${JSON.stringify(job.opresult)}`);
  return r.json;
}

test.before(async (t) => {
  t.timeout(60_000);
  redis = await startRedis();
  // The first job rapid creates gets the vectors' job id.
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  await client.set(K.jobId, String(JOB - 1));
  client.disconnect();

  rapid = await startRapid({ redisUrl: redis.url, users: USERS, env: { RAPID_NODE_NAME: NODE } });
  await untilNodeLive(rapid, Date.now() + 20_000);
  const first = await createInstance(rapid, INSTANCES[0]!);
  if (first !== JOB) throw new Error(`the first fixture job got id ${first}, not ${JOB}`);
  await createInstance(rapid, INSTANCES[1]!);
  const tags = await rapi(rapid, 'PUT', '/2/instances/inst1/tags?tag=t1&tag=t2', WRITER);
  if (tags.status !== 200) throw new Error(`tagging inst1: ${tags.status} ${tags.text}`);
  const tagJob = await waitForJob(rapid, tags.json);
  if (tagJob.status !== 'success') throw new Error(`tagging inst1 failed: ${JSON.stringify(tagJob.opresult)}`);
});

/** Lets the jobs the vectors submitted finish, so the daemon stops promptly. */
async function settleJobs(target: Target, deadlineMs: number): Promise<void> {
  const FINAL = new Set(['success', 'error', 'canceled']);
  while (Date.now() < deadlineMs) {
    const r = await rapi(target, 'GET', '/2/jobs?bulk=1').catch(() => undefined);
    if (!r || r.status !== 200 || !Array.isArray(r.json)) return;
    if (r.json.every((j: { status: string }) => FINAL.has(j.status))) return;
    await new Promise((res) => setTimeout(res, 200));
  }
}

test.after.always(async () => {
  if (rapid) {
    await settleJobs(rapid, Date.now() + 20_000);
    await rapid.stop();
  }
  if (authRapid) await (await authRapid.catch(() => undefined))?.stop();
  await authRedis?.stop();
  await redis?.stop();
});

// ---- sending a vector's request -------------------------------------------------

function send(target: Target, v: Vector): Promise<RapiResponse> {
  const { request: req } = v;
  const user = req.auth_user ?? undefined;
  const password = user === undefined ? undefined : /wrong password/.test(v.name) ? 'wrong-password' : PASSWORDS[user];
  const header = AUTH_HEADERS[v.name];
  return rapi(target, req.method, PATH_REWRITES[v.name] ?? req.path, {
    user,
    password,
    rawBody: req.body ?? undefined,
    contentType: req.content_type, // null: no Content-Type header at all
    headers: header ? { authorization: header } : undefined,
  });
}

// ---- comparisons --------------------------------------------------------------------

/** Content-Type exactly as Ganeti's; WWW-Authenticate exactly when Ganeti sends it. */
function checkHeaders(t: ExecutionContext, res: RapiResponse, expected: Record<string, string>): void {
  t.is(res.headers['content-type'], expected['Content-Type'], 'Content-Type');
  t.is(res.headers['www-authenticate'], expected['WWW-Authenticate'], 'WWW-Authenticate');
}

function checkErrorBody(t: ExecutionContext, res: RapiResponse, expectedText: string, method: string): void {
  // A HEAD answer carries no body over HTTP (Node drops it on both ends).
  if (method === 'HEAD') return;
  t.true(res.text.endsWith('\n'), 'body ends with a newline');
  const expected = JSON.parse(expectedText);
  t.deepEqual(res.json, expected, 'error body');
  t.deepEqual(Object.keys(res.json ?? {}), Object.keys(expected), 'error body key order');
}

/** [source, text, epoch_ns]: ns an integer close to now; texts as Ganeti's baserlib sets them. */
function checkReason(t: ExecutionContext, reason: unknown, userReason: string | null, where: string): void {
  if (!Array.isArray(reason)) {
    t.fail(`${where}: reason is ${JSON.stringify(reason)}, not a list`);
    return;
  }
  const nowNs = Date.now() * 1e6;
  for (const entry of reason as ReasonEntry[]) {
    t.true(Array.isArray(entry) && entry.length === 3, `${where}: reason entry ${JSON.stringify(entry)} is [source, text, ns]`);
    const [source, text, ns] = entry;
    t.is(typeof source, 'string', `${where}: reason source`);
    t.true(Number.isInteger(ns), `${where}: reason timestamp ${ns} is an integer (ns)`);
    t.true(Math.abs(ns - nowNs) < 600e9, `${where}: reason timestamp ${ns} is within 10 minutes of now`);
    if (source === 'gnt:user') t.is(text, userReason as string, `${where}: text of the gnt:user reason`);
    else if (source.startsWith('gnt:library:rlib2:')) t.is(text, '', `${where}: text of the rlib2 reason`);
  }
}

/** The opcode with rapid's own reason entries (`rapid:*`, appended after Ganeti's) left out. */
function ganetiReasons(op: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(op.reason)) return op;
  return { ...op, reason: (op.reason as unknown[]).filter((r) => !(Array.isArray(r) && String(r[0]).startsWith('rapid:'))) };
}

/**
 * A job-submitting answer: a bare JSON number and "\n"; then the job's
 * opcodes must be the vector's, key order included, reasons included.
 */
async function checkJob(t: ExecutionContext, target: Target, res: RapiResponse, v: Vector, ops: Record<string, unknown>[]): Promise<void> {
  t.regex(res.text, /^\d+\n$/, 'the answer is a bare job id');
  if (typeof res.json !== 'number') return;
  const job = await rapi(target, 'GET', `/2/jobs/${res.json}`);
  t.is(job.status, 200, `GET /2/jobs/${res.json}`);
  const got: Record<string, unknown>[] = job.json?.ops ?? [];
  t.is(got.length, ops.length, 'number of opcodes');
  const userReason = new URL(v.request.path, 'http://x').searchParams.get('reason');
  for (let i = 0; i < Math.min(got.length, ops.length); i++) {
    const op = got[i]!;
    const keys = Object.keys(op);
    // Ganeti serialises COMMON_PARAMS (…, comment, reason) and then OP_ID.
    t.is(keys[keys.indexOf('OP_ID') - 1], 'reason', `op ${i}: reason comes right before OP_ID`);
    checkReason(t, op.reason, userReason, `op ${i}`);
    const norm = toVectorForm(ganetiReasons(op));
    t.deepEqual(Object.keys(norm), Object.keys(ops[i]!), `op ${i}: keys and their order`);
    t.deepEqual(norm, ops[i], `op ${i}: values`);
    t.is(JSON.stringify(norm), JSON.stringify(ops[i]), `op ${i}: serialised form (nested key order)`);
  }
}

/** Same keys in the same order; where both values are non-null, the same JSON type. */
function checkRecord(t: ExecutionContext, got: unknown, expected: Record<string, unknown>, where: string): void {
  if (!isDict(got)) {
    t.fail(`${where}: expected a dict, got ${JSON.stringify(got)}`);
    return;
  }
  t.deepEqual(Object.keys(got), Object.keys(expected), `${where}: keys and their order`);
  for (const [k, ev] of Object.entries(expected)) {
    const gv: unknown = got[k];
    if (ev === null || gv === null || gv === undefined) continue;
    t.is(jsonType(gv), jsonType(ev), `${where}: type of ${k} (${JSON.stringify(gv)})`);
  }
}

/** Index lists: [{<key>: id, uri: prefix + id}], with the vector's key and id type, holding `mustHave`. */
function checkIndex(t: ExecutionContext, got: unknown, expected: Record<string, unknown>[], prefix: string, mustHave: string | number): void {
  if (!Array.isArray(got)) {
    t.fail(`expected a list, got ${JSON.stringify(got)}`);
    return;
  }
  const [key] = Object.keys(expected[0]!);
  for (const item of got) {
    t.deepEqual(Object.keys(item), Object.keys(expected[0]!), `keys of ${JSON.stringify(item)}`);
    t.is(jsonType(item[key!]), jsonType(expected[0]![key!]), `type of ${key} in ${JSON.stringify(item)}`);
    t.is(item.uri, `${prefix}${item[key!]}`, 'uri');
  }
  t.true(got.some((item) => item[key!] === mustHave), `${JSON.stringify(mustHave)} is listed`);
}

function checkBulk(t: ExecutionContext, got: unknown, expected: Record<string, unknown>[], key: string, mustHave: unknown): Record<string, unknown>[] {
  if (!Array.isArray(got)) {
    t.fail(`expected a list, got ${JSON.stringify(got)}`);
    return [];
  }
  got.forEach((item, i) => checkRecord(t, item, expected[0]!, `item ${i}`));
  t.true(got.some((item) => item?.[key] === mustHave), `${JSON.stringify(mustHave)} is listed`);
  return got;
}

function checkInstanceValues(t: ExecutionContext, inst: Record<string, unknown>): void {
  t.true(['up', 'down', 'offline'].includes(inst.admin_state as string), `admin_state ${inst.admin_state} is a word`);
  const be = inst.beparams as Record<string, unknown> | undefined;
  t.is(be?.memory, be?.maxmem, 'beparams.memory is the alias of maxmem');
}

function flatLog(job: Record<string, unknown>): unknown[] {
  return ((job.oplog as unknown[][] | null) ?? []).flat();
}

function checkLogEntries(t: ExecutionContext, entries: unknown): void {
  if (!Array.isArray(entries)) {
    t.fail(`log_entries is ${JSON.stringify(entries)}`);
    return;
  }
  for (const e of entries) {
    const ok = Array.isArray(e) && e.length === 4 && Number.isInteger(e[0]) && Array.isArray(e[1]) && e[1].length === 2 &&
      e[1].every(Number.isInteger) && typeof e[2] === 'string';
    t.true(ok, `log entry ${JSON.stringify(e)} is [serial, [sec, usec], type, message]`);
  }
}

async function fixtureJob(t: ExecutionContext, target: Target): Promise<Record<string, unknown>> {
  const r = await rapi(target, 'GET', `/2/jobs/${JOB}`);
  t.is(r.status, 200, `GET /2/jobs/${JOB}`);
  return r.json ?? {};
}

type Check = (t: ExecutionContext, res: RapiResponse, v: Vector, target: Target) => unknown;

/** The 200 answers that carry data: what each must look like (the vectors' values are placeholders). */
const DATA_CHECKS: Record<string, Check> = {
  'root': (t, res, v) => t.is(res.text, v.body),
  'v2root': (t, res, v) => t.is(res.text, v.body),
  'version': (t, res, v) => t.is(res.text, v.body),
  'require-authentication: /version ok for optionless user': (t, res, v) => t.is(res.text, v.body),
  // decisions.md: always the four Ganeti strings; extensions may follow.
  'features': (t, res, v) => t.deepEqual(res.json?.slice?.(0, 4), JSON.parse(v.body)),
  'info with aliases': (t, res, v) => {
    const expected = JSON.parse(v.body) as Record<string, unknown>;
    t.true(isDict(res.json), 'a dict');
    for (const k of Object.keys(expected)) t.true(k in (res.json ?? {}), `has ${k}`);
    t.is(res.json?.vg_name, res.json?.volume_group_name, 'vg_name aliases volume_group_name');
    t.is(res.json?.drbd_helper, res.json?.drbd_usermode_helper, 'drbd_helper aliases drbd_usermode_helper');
    t.is(typeof res.json?.name, 'string');
  },
  'instances index': (t, res, v) => checkIndex(t, res.json, JSON.parse(v.body), '/2/instances/', 'inst1.example.com'),
  'instances bulk': (t, res, v) => {
    for (const inst of checkBulk(t, res.json, JSON.parse(v.body), 'name', 'inst1.example.com')) checkInstanceValues(t, inst);
  },
  'instance detail': (t, res, v) => {
    checkRecord(t, res.json, JSON.parse(v.body), 'instance');
    t.is(res.json?.name, 'inst1.example.com');
    t.is(res.json?.pnode, NODE);
    checkInstanceValues(t, res.json ?? {});
  },
  'instance detail lock=1': (t, res, v) => {
    checkRecord(t, res.json, JSON.parse(v.body), 'instance');
    t.is(res.json?.name, 'inst1.example.com');
  },
  // The fixture tagged inst1 with the vector's tags; Ganeti's order is a set's.
  'instance tags get': (t, res, v) => t.deepEqual([...(res.json ?? [])].sort(), JSON.parse(v.body)),
  'jobs index': (t, res, v) => checkIndex(t, res.json, JSON.parse(v.body), '/2/jobs/', JOB),
  'jobs bulk': (t, res, v) => {
    const jobs = checkBulk(t, res.json, JSON.parse(v.body), 'id', JOB);
    t.is(jobs.find((j) => j.id === JOB)?.status, 'success', `job ${JOB} succeeded`);
  },
  'job detail': (t, res, v) => {
    checkRecord(t, res.json, JSON.parse(v.body), 'job');
    t.is(res.json?.id, JOB);
    t.is(res.json?.status, 'success');
    t.is(res.json?.ops?.[0]?.OP_ID, 'OP_INSTANCE_CREATE');
    t.deepEqual(res.json?.summary, ['INSTANCE_CREATE(inst1.example.com)']);
    t.deepEqual(res.json?.opstatus, ['success']);
    for (const f of ['received_ts', 'start_ts', 'end_ts']) {
      const ts = res.json?.[f];
      t.true(Array.isArray(ts) && ts.length === 2 && ts.every(Number.isInteger), `${f} ${JSON.stringify(ts)} is [sec, usec]`);
    }
  },
  'wait changed': async (t, res, _v, target) => {
    t.deepEqual(Object.keys(res.json ?? {}), ['job_info', 'log_entries']);
    t.deepEqual(res.json?.job_info, ['success']);
    checkLogEntries(t, res.json?.log_entries);
    // previous_log_serial null: every entry of the job.
    t.deepEqual(res.json?.log_entries, flatLog(await fixtureJob(t, target)));
  },
  'nodes index': (t, res, v) => checkIndex(t, res.json, JSON.parse(v.body), '/2/nodes/', NODE),
  'nodes bulk': (t, res, v) => {
    for (const n of checkBulk(t, res.json, JSON.parse(v.body), 'name', NODE)) {
      t.regex(String(n.role), /^[MCRDO]$/, 'bulk role is a letter');
    }
  },
  'node detail (alias secondary_ip)': (t, res, v) => {
    checkRecord(t, res.json, JSON.parse(v.body), 'node');
    t.is(res.json?.name, NODE);
    t.is(res.json?.secondary_ip, res.json?.sip, 'secondary_ip aliases sip');
    t.is(res.json?.role, 'M');
    t.true((res.json?.pinst_list ?? []).includes('inst1.example.com'), 'pinst_list has the fixture instance');
  },
  // The fixture's only node is the master.
  'node role get': (t, res, v) => t.is(res.text, v.body),
  'groups index': (t, res, v) => checkIndex(t, res.json, JSON.parse(v.body), '/2/groups/', 'default'),
  // The dict's keys depend on the console kind (_constants.py CONS_*); the
  // vector shows a VNC one. Used once the console resource is served.
  'console': (t, res, v) => {
    const keys = Object.keys(res.json ?? {});
    t.deepEqual(keys.slice(0, 2), Object.keys(JSON.parse(v.body)).slice(0, 2), 'instance, kind first');
    t.is(res.json?.instance, 'inst1');
    t.true(['ssh', 'spice', 'vnc', 'msg'].includes(res.json?.kind), `kind ${res.json?.kind} is one of Ganeti's`);
    if (res.json?.kind === 'vnc') checkRecord(t, res.json, JSON.parse(v.body), 'console');
  },
};

const JSON_ONLY = { 'Content-Type': 'application/json' };

/** What rapid must answer where decisions.md overrides the vector. */
const DEVIATIONS: Record<string, Check> = {
  // decisions.md "Content-Type: application/json; charset=utf-8 → accepted
  // (Ganeti answers 415)": the shutdown is submitted like any other.
  'content-type with charset -> 415': async (t, res, _v, target) => {
    t.is(res.status, 200);
    const [op] = vector('shutdown with body timeout + dry-run + no_remember').submitted_ops![0]!;
    await checkJob(t, target, res, _v, [{ ...op, timeout: 5, no_remember: false, dry_run: false }]);
    checkHeaders(t, res, JSON_ONLY);
    // This shutdown really stops inst1; later vectors (console) expect it running.
    await waitForJob(target, res.json, undefined, 20_000);
    const start = await rapi(target, 'PUT', '/2/instances/inst1/startup', WRITER);
    t.is((await waitForJob(target, start.json, undefined, 20_000)).status, 'success');
  },
  // decisions.md "/wait … without a body → 400" (Ganeti's 500 is a bug).
  'wait with no body at all -> 500 (original bug)': (t, res) => {
    t.is(res.status, 400);
    t.deepEqual(Object.keys(res.json ?? {}), ['code', 'message', 'explain']);
    t.is(res.json?.code, 400);
    t.is(res.json?.explain, 'Bad request syntax or unsupported method');
    t.true(typeof res.json?.message === 'string' && res.json.message.length > 0, 'a message');
    checkHeaders(t, res, JSON_ONLY);
  },
  // Ganeti's 500 here is a bug (rapi-reference.md §7); a PUT …/modify
  // without a body must be a 400. Used once /modify is served.
  'modify instance empty body -> 500': (t, res) => {
    t.is(res.status, 400);
    t.deepEqual(Object.keys(res.json ?? {}), ['code', 'message', 'explain']);
    t.is(res.json?.code, 400);
    t.is(res.json?.explain, 'Bad request syntax or unsupported method');
    checkHeaders(t, res, JSON_ONLY);
  },
  // decisions.md "GET /2/jobs/<unknown id> → 200 with every field null, as 3.0.2".
  'job missing -> 404': (t, res) => {
    t.is(res.status, 200);
    const fields = Object.keys(JSON.parse(vector('job detail').body));
    t.deepEqual(res.json, Object.fromEntries(fields.map((f) => [f, null])));
    t.deepEqual(Object.keys(res.json ?? {}), fields, 'J_FIELDS order');
    checkHeaders(t, res, JSON_ONLY);
  },
  // decisions.md cancel: "unknown or finished → [false, "Job N not found in queue"]";
  // the vectors' job is the fixture's finished creation job.
  'job cancel': (t, res) => {
    t.is(res.status, 200);
    t.is(res.text, JSON.stringify([false, `Job ${JOB} not found in queue`]) + '\n');
    checkHeaders(t, res, JSON_ONLY);
  },
  // decisions.md "/wait with no change → {job_info, log_entries: []}, never
  // null; a finished job answers at once": the job is finished, so rapid
  // answers at once with the entries after serial 1.
  'wait not changed -> null': async (t, res, _v, target) => {
    t.is(res.status, 200);
    t.deepEqual(Object.keys(res.json ?? {}), ['job_info', 'log_entries']);
    t.deepEqual(res.json?.job_info, ['success']);
    checkLogEntries(t, res.json?.log_entries);
    const after1 = flatLog(await fixtureJob(t, target)).filter((e) => Array.isArray(e) && (e[0] as number) > 1);
    t.deepEqual(res.json?.log_entries, after1, 'log entries with serial > previous_log_serial');
    checkHeaders(t, res, JSON_ONLY);
  },
};

async function checkVector(t: ExecutionContext, target: Target, v: Vector): Promise<void> {
  t.timeout(20_000);
  const res = await send(target, v);
  const deviation = DEVIATIONS[v.name];
  if (deviation) {
    await deviation(t, res, v, target);
    return;
  }
  t.is(res.status, v.status, `status (body: ${res.text.trim()})`);
  if (v.status !== 200) {
    checkErrorBody(t, res, v.body, v.request.method);
  } else if (v.submitted_ops) {
    t.is(v.submitted_ops.length, 1, 'one job per request in the vector');
    await checkJob(t, target, res, v, v.submitted_ops[0]!);
  } else {
    t.true(res.text.endsWith('\n'), 'body ends with a newline');
    const check = DATA_CHECKS[v.name];
    if (check) await check(t, res, v, target);
    else t.is(res.text, v.body, 'body'); // no placeholder data: exact
  }
  // Last, so that a test shows its own failure before the shared header one.
  checkHeaders(t, res, v.headers);
}

// ---- registration ------------------------------------------------------------------

const NEVER_SERVED = new Set([404, 501]);

/** Served: rapid has the path and the method; vectors expecting 404/501 are checked whatever rapid serves. */
function served(v: Vector): boolean {
  const r = findResource(RESOURCES, v.request.path);
  return (r !== undefined && v.request.method in r.methods) || NEVER_SERVED.has(v.status);
}

const requireAuth = (v: Vector) => v.name.startsWith('require-authentication:');
const checked = vectors.filter((v) => served(v) && !requireAuth(v));
const gaps = vectors.filter((v) => !served(v));

// Vectors without jobs first: a later vector deletes the fixture's inst1.
for (const v of [...checked.filter((x) => !x.submitted_ops), ...checked.filter((x) => x.submitted_ops)]) {
  test.serial(v.name, (t) => checkVector(t, daemon(), v));
}

for (const v of vectors.filter(requireAuth)) {
  test.serial(v.name, async (t) => {
    t.timeout(40_000);
    await checkVector(t, await requireAuthDaemon(), v);
  });
}

// Not a vector of its own: the "PATCH -> 501" vector with a query string.
// Ganeti's message names req.request_path, the request URI as sent, query
// included (server/rapi.py _GetRequestContext; connector.Mapper splits the
// query off only for matching).
test.serial('501 names the request path with its query string, as Ganeti', async (t) => {
  const res = await rapi(daemon(), 'PATCH', '/2/instances?bulk=1');
  t.is(res.status, 501);
  t.deepEqual(res.json, {
    code: 501, message: 'Method PATCH is unsupported for path /2/instances?bulk=1', explain: 'Server does not support this operation',
  });
});

test.serial('vectors on resources rapid does not serve yet: 404 (no such path) or 501 (no such method)', async (t) => {
  t.timeout(30_000);
  t.log(`${gaps.length} vectors not served yet:\n  ${gaps.map((v) => `${v.name}  [${v.request.method} ${v.request.path}]`).join('\n  ')}`);
  const wrong: string[] = [];
  const types = new Set<string>();
  for (const v of gaps) {
    const res = await send(daemon(), v);
    // Ganeti names the request path as sent, query string included (req.request_path).
    const path = v.request.path;
    const expected = findResource(RESOURCES, v.request.path)
      ? { code: 501, message: `Method ${v.request.method} is unsupported for path ${path}`, explain: 'Server does not support this operation' }
      : { code: 404, message: 'Not Found', explain: 'Nothing matches the given URI' };
    if (res.status !== expected.code || JSON.stringify(res.json) !== JSON.stringify(expected)) {
      wrong.push(`${v.name}: got ${res.status} ${res.text.trim()}, expected ${JSON.stringify(expected)}`);
    }
    if (res.headers['content-type'] !== 'application/json') types.add(String(res.headers['content-type']));
  }
  t.deepEqual(wrong, [], 'status and error body');
  t.deepEqual([...types], [], 'Content-Type other than application/json');
});
