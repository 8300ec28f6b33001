// Baseline for /2/info: a bare Node https server (same certificate, same TLS
// floor, same keep-alive timeout as rapid) that answers every request with a
// static JSON-typed body of a given size. Run as its own process so it gets
// its own event loop, like the daemon does.
//   node dist/bench/bare-https.js <pem file> <body bytes>   → prints "ready <port>"
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

const [pemPath, bytes] = process.argv.slice(2);
const pem = readFileSync(pemPath!);
const size = Number(bytes);
const body = Buffer.from(('{"pad":"' + 'x'.repeat(Math.max(0, size - 11)) + '"}\n').slice(0, Math.max(size, 11)));

const server = https.createServer({ key: pem, cert: pem, minVersion: 'TLSv1.2' }, (req, res) => {
  req.resume();
  req.on('end', () => {
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
