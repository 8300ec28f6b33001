// The RAPI server certificate: Ganeti keeps key and certificate together in
// one rapi.pem; we generate a self-signed one on first start, like
// `gnt-cluster init` does, unless the operator points us at their own.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { lookup, lookupService } from 'node:dns/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TlsMaterial { key: string; cert: string; ca?: string }

const CERT_FILE = 'rapi.pem';
const VALID_YEARS = 5;
const DNS_TIMEOUT_MS = 2000;

/** Ensure $dataDir/rapi.pem exists (key + certificate); returns its path. */
export async function ensureSelfSigned(dataDir: string): Promise<string> {
  const path = join(dataDir, CERT_FILE);
  if (existsSync(path)) return path;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const host = hostname();
  const fqdn = await resolveFqdn(host);
  await writeOnce(path, makeSelfSigned(host, fqdn), 0o440);
  return path;
}

/** Operator-given files win; otherwise the generated rapi.pem. */
export async function loadTls(opts: {
  dataDir: string; certPath?: string; keyPath?: string; caPath?: string;
}): Promise<TlsMaterial> {
  const given = (p?: string) => (p && existsSync(p) ? p : undefined);
  const certPath = given(opts.certPath) ?? await ensureSelfSigned(opts.dataDir);
  const certPem = await readFile(certPath, 'utf8');
  // As in Ganeti, the key may live in the certificate file itself.
  const keyPath = given(opts.keyPath);
  const keyPem = keyPath ? await readFile(keyPath, 'utf8') : certPem;
  const key = keyPem.match(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/)?.[0];
  const certs = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!key) throw new Error(`no private key found in ${keyPath ?? certPath}`);
  if (!certs) throw new Error(`no certificate found in ${certPath}`);
  const caPath = given(opts.caPath);
  return {
    key: key + '\n',
    cert: certs.join('\n') + '\n',
    ...(caPath ? { ca: await readFile(caPath, 'utf8') } : {}),
  };
}

function makeSelfSigned(host: string, fqdn: string | undefined): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // DER INTEGERs are signed and minimal: clear the top bit and set the next
  // one so the 16-byte serial is positive and needs no leading zero byte.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  // Backdated a little so clients with a slightly slow clock accept it.
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(cert.validity.notBefore);
  cert.validity.notAfter.setFullYear(cert.validity.notAfter.getFullYear() + VALID_YEARS);
  const subject = [{ name: 'commonName', value: fqdn ?? host }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const dnsNames = [...new Set([host, fqdn ?? host, 'localhost'])];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'subjectAltName',
      altNames: [
        ...dnsNames.map((value) => ({ type: 2, value })),
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return privateKey + forge.pki.certificateToPem(cert);
}

/**
 * The host's FQDN via forward then reverse lookup (like Python's
 * socket.getfqdn), or undefined. A broken resolver must not stall startup,
 * hence the timeout; the abandoned lookup finishes in the background.
 */
async function resolveFqdn(host: string): Promise<string | undefined> {
  if (host.includes('.')) return host;
  const resolve = async () => {
    const { address } = await lookup(host);
    const { hostname: name } = await lookupService(address, 0);
    return name.startsWith(host + '.') ? name : undefined;
  };
  const cancel = new AbortController();
  try {
    return await Promise.race([resolve(), sleep(DNS_TIMEOUT_MS, undefined, { signal: cancel.signal })]);
  } catch {
    return undefined;
  } finally {
    cancel.abort(); // stops the timer; Promise.race already handles its rejection
  }
}

/**
 * Write via a temp file, so readers never see a partial file. link() rather
 * than rename(): it fails when the target exists, so a file another daemon
 * created meanwhile is kept, not swapped under its feet.
 */
async function writeOnce(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.chmod(mode); // explicit: the umask must not decide
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp);
  }
}
