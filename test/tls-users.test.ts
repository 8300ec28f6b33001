import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSelfSigned, loadTls } from '../certs/selfsigned.ts';
import { ensureUsersFile, parseAuthorization, UsersFile } from '../rapi/users.ts';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-tls-users-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// One certificate for the TLS tests: RSA key generation is the slow part.
let shared: Promise<{ path: string; pem: string }> | undefined;
function sharedCert(): Promise<{ path: string; pem: string }> {
  shared ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rapid-tls-shared-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const path = await ensureSelfSigned(dir);
    return { path, pem: readFileSync(path, 'utf8') };
  })();
  return shared;
}

async function withServer(t: ExecutionContext, fn: (port: number) => Promise<void>): Promise<void> {
  const tls = await loadTls({ dataDir: '/nonexistent', certPath: (await sharedCert()).path });
  const server = https.createServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, (_req, res) => {
    res.end('ok');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.teardown(() => new Promise<void>((done) => server.close(() => done())));
  await fn((server.address() as AddressInfo).port);
}

function get(options: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get({ ...options, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

// ---- certificate ----

test('rapi.pem is created once, mode 0440, never overwritten', async (t) => {
  const dir = tempDir(t);
  const path = await ensureSelfSigned(dir);
  t.is(path, join(dir, 'rapi.pem'));
  t.is(statSync(path).mode & 0o777, 0o440);
  const first = readFileSync(path, 'utf8');
  t.is(await ensureSelfSigned(dir), path);
  t.is(readFileSync(path, 'utf8'), first);
});

test('certificate: SANs, key match, usage, serial, validity', async (t) => {
  const { pem } = await sharedCert();
  const x509 = new X509Certificate(pem);
  const sans = x509.subjectAltName!.split(', ');
  for (const san of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']) {
    t.true(sans.includes(san), `${san} in ${x509.subjectAltName}`);
  }
  t.true(x509.checkPrivateKey(createPrivateKey(pem)));
  t.false(x509.ca);
  t.deepEqual(x509.keyUsage, ['1.3.6.1.5.5.7.3.1']); // Node reports extKeyUsage here
  t.is(x509.serialNumber.length, 32);
  t.true(parseInt(x509.serialNumber[0]!, 16) < 8); // positive
  const years = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / (365.25 * 86400_000);
  t.true(Math.abs(years - 5) < 0.01);
  t.regex(x509.subject, /^CN=\S+$/);
});

test('loadTls: env paths win, key may sit in the cert file, missing paths fall back', async (t) => {
  const { path } = await sharedCert();
  const dir = tempDir(t);
  const combined = await loadTls({ dataDir: dir, certPath: path });
  t.regex(combined.key, /^-----BEGIN PRIVATE KEY-----/);
  t.regex(combined.cert, /^-----BEGIN CERTIFICATE-----[^]*-----END CERTIFICATE-----\n$/);
  t.is(combined.ca, undefined);
  t.false(existsSync(join(dir, 'rapi.pem')));

  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  writeFileSync(keyPath, combined.key);
  writeFileSync(certPath, combined.cert);
  const split = await loadTls({ dataDir: dir, certPath, keyPath, caPath: certPath });
  t.deepEqual(split, { ...combined, ca: combined.cert });

  const fallback = await loadTls({ dataDir: dir, certPath: join(dir, 'missing.pem') });
  t.true(existsSync(join(dir, 'rapi.pem')));
  t.not(fallback.cert, combined.cert);
});

test('https server with the generated cert: verified by IP, TLS 1.1 refused', async (t) => {
  const { pem } = await sharedCert();
  await withServer(t, async (port) => {
    t.is(await get({ host: '127.0.0.1', port, path: '/', ca: pem }), 'ok');
    // Without the CA the self-signed certificate must not verify.
    await t.throwsAsync(get({ host: '127.0.0.1', port, path: '/' }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    // SECLEVEL=0 lets the client offer TLS 1.1; the protocol_version alert
    // (70) shows that the server, not the client, refused it.
    await t.throwsAsync(
      get({
        host: '127.0.0.1', port, path: '/', ca: pem,
        minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0',
      }),
      { code: 'EPROTO', message: /alert protocol version/ },
    );
  });
});

test('curl accepts the generated cert as CA', async (t) => {
  const { path } = await sharedCert();
  const curl = ['/usr/bin/curl', '/bin/curl'].find((p) => existsSync(p));
  if (!curl) {
    t.pass('curl not installed');
    return;
  }
  await withServer(t, async (port) => {
    // Asynchronous on purpose: the server runs in this process.
    const out = await new Promise<string>((resolve, reject) =>
      execFile(curl, ['-sS', '--cacert', path, `https://127.0.0.1:${port}/`], (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
    t.is(out, 'ok');
  });
});

// ---- users file ----

const HA1 = createHash('md5').update('gnt-cc:Ganeti Remote API:gnt-cc').digest('hex');

test('HA1 fixture matches Ganeti realm hashing', (t) => {
  t.is(HA1, '2ac2878ee230f34cd08e5f95ccc0e664');
});

function usersFile(t: ExecutionContext, text: string): UsersFile {
  const path = join(tempDir(t), 'users');
  writeFileSync(path, text);
  const users = new UsersFile(path);
  users.load();
  return users;
}

test('users: password schemes', (t) => {
  const users = usersFile(t, [
    'plain secret',
    'clear {CLEARTEXT}s3cret write',
    'lower {cleartext}lower',
    `gnt-cc {HA1}${HA1.toUpperCase()} read`,
    'hashlower {ha1}' + createHash('md5').update('hashlower:Ganeti Remote API:pw').digest('hex'),
    'weird {SHA}whatever',
    'empty {}x',
    'open {nope',
  ].join('\n'));
  t.deepEqual(users.authenticate('plain', 'secret'), { name: 'plain', options: [], permissions: null });
  t.is(users.authenticate('plain', 'Secret'), null);
  t.is(users.authenticate('plain', ''), null);
  t.deepEqual(users.authenticate('clear', 's3cret'), { name: 'clear', options: ['write'], permissions: null });
  t.is(users.authenticate('clear', '{CLEARTEXT}s3cret'), null);
  t.truthy(users.authenticate('lower', 'lower'));
  t.deepEqual(users.authenticate('gnt-cc', 'gnt-cc'), { name: 'gnt-cc', options: ['read'], permissions: null });
  t.is(users.authenticate('gnt-cc', HA1), null);
  t.truthy(users.authenticate('hashlower', 'pw'));
  t.is(users.authenticate('weird', 'whatever'), null);
  t.is(users.authenticate('weird', '{SHA}whatever'), null);
  t.is(users.authenticate('empty', 'x'), null);
  t.is(users.authenticate('empty', '{}x'), null);
  t.is(users.authenticate('open', 'nope'), null);
  t.is(users.authenticate('nobody', 'secret'), null);
});

test('users: options, comments, short lines', (t) => {
  const users = usersFile(t, [
    '# comment line',
    '   # indented comment',
    '',
    'lonely',
    'rw pw read,write',
    'spaced pw  read, write ',
    'roles pw @admin,write,jobs.list',
    '\tindented pw read\r',
  ].join('\n'));
  t.is(users.authenticate('#', 'comment'), null);
  t.is(users.authenticate('lonely', ''), null);
  t.deepEqual(users.authenticate('rw', 'pw')?.options, ['read', 'write']);
  t.deepEqual(users.authenticate('spaced', 'pw')?.options, ['read', 'write']);
  t.deepEqual(users.authenticate('roles', 'pw')?.options, ['@admin', 'write', 'jobs.list']);
  t.deepEqual(users.authenticate('indented', 'pw')?.options, ['read']);
});

test('users: reload picks up changes; a missing file means no users', (t) => {
  const path = join(tempDir(t), 'users');
  const users = new UsersFile(path);
  users.load();
  t.is(users.authenticate('a', 'b'), null);
  writeFileSync(path, 'a b\n');
  t.is(users.authenticate('a', 'b'), null); // not until load()
  users.load();
  t.truthy(users.authenticate('a', 'b'));
  writeFileSync(path, 'a c write\n');
  users.load();
  t.is(users.authenticate('a', 'b'), null);
  t.deepEqual(users.authenticate('a', 'c'), { name: 'a', options: ['write'], permissions: null });
  rmSync(path);
  users.load();
  t.is(users.authenticate('a', 'c'), null);
});

test('ensureUsersFile creates once with a random admin password, never overwrites', (t) => {
  const path = join(tempDir(t), 'sub', 'users');
  const password = ensureUsersFile(path);
  t.truthy(password);
  t.regex(password!, /^[A-Za-z0-9_-]{20,}$/);
  t.is(statSync(path).mode & 0o777, 0o600);
  const users = new UsersFile(path);
  users.load();
  t.deepEqual(users.authenticate('admin', password!), { name: 'admin', options: ['write'], permissions: null });
  const text = readFileSync(path, 'utf8');
  t.is(ensureUsersFile(path), null);
  t.is(readFileSync(path, 'utf8'), text);
  writeFileSync(path, 'mine pw\n');
  t.is(ensureUsersFile(path), null);
  t.is(readFileSync(path, 'utf8'), 'mine pw\n');
  t.not(ensureUsersFile(join(tempDir(t), 'users')), password);
});

// ---- Authorization header ----

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('parseAuthorization', (t) => {
  t.deepEqual(parseAuthorization(undefined), { kind: 'none' });
  t.deepEqual(parseAuthorization(''), { kind: 'other' });
  t.deepEqual(parseAuthorization('   '), { kind: 'other' });
  t.deepEqual(parseAuthorization(`Basic ${b64('joe:pw')}`), { kind: 'basic', user: 'joe', password: 'pw' });
  t.deepEqual(parseAuthorization(`bAsIc  ${b64('joe:pw')} trailing`), { kind: 'basic', user: 'joe', password: 'pw' });
  t.deepEqual(parseAuthorization(`  Basic\t${b64('joe:pw')}  `), { kind: 'basic', user: 'joe', password: 'pw' });
  t.deepEqual(parseAuthorization(`Basic ${b64('joe:a:b:')}`), { kind: 'basic', user: 'joe', password: 'a:b:' });
  t.deepEqual(parseAuthorization(`Basic ${b64(':')}`), { kind: 'basic', user: '', password: '' });
  t.deepEqual(parseAuthorization('Basic'), { kind: 'empty-basic' });
  t.deepEqual(parseAuthorization('basic   '), { kind: 'empty-basic' });
  t.deepEqual(parseAuthorization(`Basic ${b64('joe')}`), { kind: 'bad-basic' });
  t.deepEqual(parseAuthorization('Basic !!!garbage!!!'), { kind: 'bad-basic' });
  t.deepEqual(parseAuthorization('Basic am9lOnB3'.slice(0, -1)), { kind: 'bad-basic' }); // bad padding
  t.deepEqual(parseAuthorization(`Basic ${b64('jö:pw')}`), { kind: 'bad-basic' }); // not ASCII
  t.deepEqual(parseAuthorization('Digest username="joe", realm="Ganeti Remote API"'), { kind: 'other' });
  t.deepEqual(parseAuthorization('Bearer abc'), { kind: 'bearer', token: 'abc' });
  t.deepEqual(parseAuthorization('bearer'), { kind: 'other' });
  t.deepEqual(parseAuthorization(`Basicx ${b64('joe:pw')}`), { kind: 'other' });
});
