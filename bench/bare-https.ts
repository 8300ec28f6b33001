// HTTP baseline: a bare Node https server (same certificate, same TLS floor,
// same keep-alive timeout as rapid) that answers every request with a static
// JSON-typed body of a given size. Run as its own process so it gets its own
// event loop, like the daemon does.
//   node dist/bench/bare-https.js <pem file> <bytes> [<path>=<bytes> …]
// prints "ready <port>"; a listed path gets a body of its own size, any other
// path the default one.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

const [pemPath, bytes, ...extra] = process.argv.slice(2);
const pem = readFileSync(pemPath!);

/** A JSON body of `size` bytes (at least 11). */
const makeBody = (size: number) => Buffer.from('{"pad":"' + 'x'.repeat(Math.max(0, size - 11)) + '"}\n');
const dflt = makeBody(Number(bytes));
const byPath = new Map(extra.map((a) => {
  const i = a.lastIndexOf('=');
  return [a.slice(0, i), makeBody(Number(a.slice(i + 1)))] as const;
}));

const server = https.createServer({ key: pem, cert: pem, minVersion: 'TLSv1.2' }, (req, res) => {
  req.resume();
  req.on('end', () => {
    const body = byPath.get(req.url ?? '') ?? dflt;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, server: 'bare' });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`ready ${(server.address() as AddressInfo).port}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', () => { server.closeAllConnections(); stop(); });
process.on('SIGINT', () => { server.closeAllConnections(); stop(); });
// Never outlive the benchmark that started us.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
