// A tag-job load in its own thread (own event loop), so that latency probes in
// the main thread are not delayed by the load generator's callbacks.
// workerData: { baseUrl, ca, user, password, conc, durationMs, names: string[] }
// Posts { ids: number[], errors: number, ms: number } when done.
import { parentPort, workerData } from 'node:worker_threads';
import { Client, loop } from './lib.ts';

interface LoadData {
  baseUrl: string;
  ca: string;
  user: string;
  password: string;
  conc: number;
  durationMs: number;
  names: string[];
}

const d = workerData as LoadData;
const client = new Client(d.baseUrl, d.ca, { user: d.user, password: d.password, maxSockets: d.conc });
const ids: number[] = [];
let errors = 0;
const { ms } = await loop({ conc: d.conc, durationMs: d.durationMs }, async (i) => {
  const name = d.names[i % d.names.length];
  const r = await client.request('PUT', `/2/instances/${name}/tags?tag=load${i % 16}`);
  if (r.status === 200) ids.push(Number(r.text));
  else errors++;
});
client.close();
parentPort!.postMessage({ ids, errors, ms });
