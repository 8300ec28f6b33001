// Who may do what (anonymous / read / write / wrong password × read and write
// resources), and bad input on every write resource: a clear 4xx and no job.
import test from 'ava';
import { startCluster, createBody, WRITER, READER, type TestCluster } from './helpers/cluster.ts';
import { rapi } from './helpers/http.ts';

let c: TestCluster;
test.before(async () => {
  c = await startCluster({ RAPID_MAX_BODY: '65536' });
  const job = await c.job('POST', '/2/instances', { body: createBody('web1') });
  if (job.status !== 'success') throw new Error(JSON.stringify(job));
});
test.after.always(async () => { await c?.stop(); });

const who = {
  anonymous: {},
  reader: READER,
  writer: WRITER,
  'wrong password': { user: 'admin', password: 'nope' },
  'user without options': { user: 'nobody', password: 'nobodypw' },
} as const;

const reads = ['/2/info', '/2/instances?bulk=1', '/2/nodes', '/2/jobs', '/version'];
const writes: [string, string][] = [['PUT', '/2/tags?tag=auth'], ['POST', '/2/instances/web1/reboot'], ['DELETE', '/2/jobs/1']];
const expectRead: Record<keyof typeof who, number> = { anonymous: 200, reader: 200, writer: 200, 'wrong password': 401, 'user without options': 200 };
const expectWrite: Record<keyof typeof who, number> = { anonymous: 401, reader: 403, writer: 200, 'wrong password': 401, 'user without options': 403 };

for (const [name, auth] of Object.entries(who) as [keyof typeof who, object][]) {
  test(`auth matrix: ${name}`, async (t) => {
    for (const path of reads) {
      const r = await rapi(c.rapid, 'GET', path, auth);
      t.is(r.status, expectRead[name], `GET ${path}`);
    }
    for (const [method, path] of writes) {
      const r = await rapi(c.rapid, method, path, auth);
      t.is(r.status, expectWrite[name], `${method} ${path}: ${r.text}`);
      if (r.status === 401) t.is(r.headers['www-authenticate'], 'Basic realm="Ganeti Remote API"');
      if (r.status >= 400) t.deepEqual(Object.keys(r.json), ['code', 'message', 'explain']);
    }
  });
}

test('malformed Authorization headers', async (t) => {
  const h = async (v: string) => (await rapi(c.rapid, 'GET', '/2/info', { headers: { Authorization: v } })).status;
  t.is(await h('Basic'), 400);
  t.is(await h('Basic !!!notbase64'), 401);
  t.is(await h(`Basic ${Buffer.from('nocolon').toString('base64')}`), 401);
  t.is(await h('Digest username="admin"'), 401);
});

/** Bad requests on every write resource: status, Ganeti's message, and no job created. */
const BAD: { name: string; method: string; path: string; body?: unknown; raw?: string; type?: string | null; status: number; message: RegExp }[] = [
  { name: 'create: not JSON', method: 'POST', path: '/2/instances', raw: '{nope', status: 400, message: /^Unable to parse JSON data$/ },
  { name: 'create: form-encoded', method: 'POST', path: '/2/instances', raw: 'a=b', type: 'application/x-www-form-urlencoded', status: 415, message: /Unsupported Media Type/ },
  { name: 'create: no __version__', method: 'POST', path: '/2/instances', body: { name: 'x' }, status: 400, message: /version 0 is no longer supported/ },
  { name: 'create: body is a list', method: 'POST', path: '/2/instances', body: [1], status: 400, message: /Type is &#x27;list&#x27;, but &#x27;dict&#x27; is expected/ },
  { name: 'create: unknown key', method: 'POST', path: '/2/instances', body: createBody('x', { colour: 'red' }), status: 400, message: /doesn&#x27;t support the parameter &#x27;colour&#x27;/ },
  { name: 'create: wrong type', method: 'POST', path: '/2/instances', body: createBody('x', { start: 'yes' }), status: 400, message: /OP_INSTANCE_CREATE.start&#x27; fails validation/ },
  { name: 'create: bad disk template', method: 'POST', path: '/2/instances', body: createBody('x', { disk_template: 'floppy' }), status: 400, message: /disk_template/ },
  { name: 'create: dry_run in body', method: 'POST', path: '/2/instances', body: createBody('x', { dry_run: true }), status: 400, message: /Can&#x27;t overwrite static parameters \{&#x27;dry_run&#x27;\}/ },
  { name: 'create: bad dry-run flag', method: 'POST', path: '/2/instances?dry-run=yes', body: createBody('x'), status: 400, message: /Invalid value for the &#x27;dry-run&#x27; parameter/ },
  { name: 'delete: unknown key', method: 'DELETE', path: '/2/instances/web1', body: { force: true }, status: 400, message: /doesn&#x27;t support the parameter &#x27;force&#x27;/ },
  { name: 'delete: timeout as string', method: 'DELETE', path: '/2/instances/web1', body: { shutdown_timeout: '10' }, status: 400, message: /shutdown_timeout&#x27; fails validation/ },
  { name: 'reboot: bad type', method: 'POST', path: '/2/instances/web1/reboot?type=sideways', status: 400, message: /reboot_type&#x27; fails validation/ },
  { name: 'reboot: static in body', method: 'POST', path: '/2/instances/web1/reboot', body: { instance_name: 'x' }, status: 400, message: /Can&#x27;t overwrite static parameters/ },
  { name: 'shutdown: timeout negative', method: 'PUT', path: '/2/instances/web1/shutdown', body: { timeout: -5 }, status: 400, message: /timeout&#x27; fails validation/ },
  { name: 'shutdown: bad flag', method: 'PUT', path: '/2/instances/web1/shutdown?no_remember=maybe', status: 400, message: /no_remember/ },
  { name: 'startup: bad force flag', method: 'PUT', path: '/2/instances/web1/startup?force=true', status: 400, message: /Invalid value for the &#x27;force&#x27; parameter/ },
  { name: 'reinstall: start as int', method: 'POST', path: '/2/instances/web1/reinstall', body: { start: 0 }, status: 400, message: /&#x27;start&#x27; parameter: Type is &#x27;int&#x27;/ },
  { name: 'reinstall: body and query', method: 'POST', path: '/2/instances/web1/reinstall?os=noop', body: { os: 'noop' }, status: 400, message: /Can&#x27;t combine query and body parameters/ },
  { name: 'reinstall: osparams not a dict', method: 'POST', path: '/2/instances/web1/reinstall', body: { osparams: 5 }, status: 400, message: /osparams/ },
  { name: 'tags: bad dry-run', method: 'PUT', path: '/2/tags?tag=a&dry-run=x', status: 400, message: /dry-run/ },
  { name: 'node tags: bad dry-run', method: 'DELETE', path: '/2/nodes/node1.example.com/tags?tag=a&dry-run=x', status: 400, message: /dry-run/ },
  { name: 'instance tags: charset other than JSON', method: 'PUT', path: '/2/instances/web1/tags?tag=a', raw: '["a"]', type: 'text/plain', status: 415, message: /Unsupported/ },
  { name: 'cancel: non-numeric id', method: 'DELETE', path: '/2/jobs/abc', status: 404, message: /Not Found/ },
  { name: 'huge body', method: 'POST', path: '/2/instances', raw: JSON.stringify({ pad: 'x'.repeat(70_000) }), status: 413, message: /exceeds the limit/ },
  { name: 'trailing slash', method: 'PUT', path: '/2/instances/web1/startup/', status: 404, message: /Not Found/ },
  { name: 'bad name characters', method: 'PUT', path: '/2/instances/we%24b1/startup', status: 404, message: /Not Found/ },
  { name: 'unsupported method', method: 'PATCH', path: '/2/instances/web1', status: 501, message: /Method PATCH is unsupported for path \/2\/instances\/web1/ },
];

for (const b of BAD) {
  test.serial(`bad input: ${b.name}`, async (t) => {
    const before = (await rapi(c.rapid, 'GET', '/2/jobs')).json.length;
    const r = await rapi(c.rapid, b.method, b.path, {
      ...WRITER, body: b.body, rawBody: b.raw, contentType: b.type === undefined ? undefined : b.type,
    });
    t.is(r.status, b.status, r.text);
    t.is(r.headers['content-type'], 'application/json');
    t.is(r.json.code, b.status);
    t.regex(r.json.message, b.message);
    t.is(typeof r.json.explain, 'string');
    t.is((await rapi(c.rapid, 'GET', '/2/jobs')).json.length, before, 'no job was created');
  });
}

test.serial('state is unchanged after bad input', async (t) => {
  const inst = (await rapi(c.rapid, 'GET', '/2/instances/web1')).json;
  t.is(inst.status, 'running');
  t.deepEqual(inst.tags, []);
  t.deepEqual((await rapi(c.rapid, 'GET', '/2/instances')).json, [{ id: 'web1', uri: '/2/instances/web1' }]);
});

test.serial('dry-run runs the checks and changes nothing', async (t) => {
  const ok = await c.job('POST', '/2/instances?dry-run=1', { body: createBody('dry1') });
  t.is(ok.status, 'success');
  t.is(ok.ops[0].dry_run, true);
  t.is((await rapi(c.rapid, 'GET', '/2/instances/dry1')).status, 404);
  const dup = await c.job('POST', '/2/instances?dry-run=1', { body: createBody('web1') });
  t.is(dup.status, 'error', 'dry runs still report prerequisite failures');
  const tag = await c.job('PUT', '/2/tags?tag=dry&dry-run=1');
  t.is(tag.status, 'success');
  t.false((await rapi(c.rapid, 'GET', '/2/tags')).json.includes('dry'));
});
