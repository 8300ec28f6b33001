// Ganeti's htools against a 3-node rapid cluster through their RAPI backend
// (-m https://user:pw@…): 20 running instances with externally mirrored disks
// (diskless, sharedfile), all on the master node, so hbal has work to do.
// hbal's suggested moves (-C prints them as gnt-instance commands) are
// submitted as migrate jobs through RAPI; the instances must end up where
// hbal said, and a fresh hbal run must see a better cluster.
//
// hbal -L / -X (execute through luxi) are not exercised: they talk to luxid's
// socket, which rapid does not provide; RAPI is the only interface here.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startCluster, createBody, WRITER, NODE, type TestCluster } from './helpers/cluster.ts';
import { rapi, waitForJob } from './helpers/http.ts';
import { recordPid, unrecordPid } from './helpers/pids.ts';

const N2 = 'node2.example.com';
const N3 = 'node3.example.com';
const NODES = [NODE, N2, N3];
const MEMORY = 512;
const INSTANCES = Array.from({ length: 20 }, (_, i) => `hc${String(i + 1).padStart(2, '0')}.example.com`);
/** Every fifth instance has a sharedfile disk, the others are diskless. */
const SHARED = new Set(INSTANCES.filter((_, i) => i % 5 === 4));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(tool: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(`/usr/bin/${tool}`, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (proc.pid !== undefined) recordPid(proc.pid, tool);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (proc.pid !== undefined) unrecordPid(proc.pid);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * stderr minus htools' "inconsistent data" warning about disk: every node
 * reports the host file system its storage directory lives on, which holds
 * more than the instances' disks. A memory mismatch is left in: the fake
 * hypervisor accounts its guests' memory exactly, so one would be a bug.
 */
function unexpectedStderr(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !/^Warning: cluster has inconsistent data:$/.test(l))
    .filter((l) => !/^ {2}- node \S+ is missing 0 MB ram and -?\d+ GB disk$/.test(l));
}

async function tool(t: ExecutionContext, name: string, args: string[], expectCode = 0): Promise<Run> {
  const r = await run(name, args);
  const shown = args.map((a) => a.replace(/\/\/[^@/]*@/, '//***@')).join(' ');
  t.log(`$ ${name} ${shown}  (exit ${r.code})\n${r.stdout.trimEnd()}${r.stderr.trim() ? `\n[stderr]\n${r.stderr.trimEnd()}` : ''}`);
  t.is(r.code, expectCode, `${name} ${shown} exit status; stderr: ${r.stderr.trim()}`);
  t.deepEqual(unexpectedStderr(r.stderr), [], `${name} ${shown}: unexpected stderr`);
  return r;
}

/** KEY=value lines of htools' machine-readable output. */
function keyValues(out: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) kv[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return kv;
}

/**
 * htools print names without the domain every node and instance shares
 * (Loader's common suffix); map such an alias back to the full name.
 */
function fullName(alias: string, names: string[]): string {
  const hits = names.filter((n) => n === alias || n.startsWith(`${alias}.`));
  if (hits.length !== 1) throw new Error(`alias ${alias} matches ${JSON.stringify(hits)}`);
  return hits[0]!;
}

interface Move {
  instance: string;
  target: string;
  how: 'migrate' | 'failover';
}

/**
 * hbal -C's command list, in jobsets: "echo jobset N, M jobs" opens a set
 * whose jobs may run in parallel; sets run one after another. Instances
 * with externally mirrored disks move with "gnt-instance migrate -f -n
 * NODE NAME" (failover when the instance is down), Cluster.computeMoves'
 * FailoverToAny.
 */
function parseMoves(stdout: string): Move[][] {
  const sets: Move[][] = [];
  for (const line of stdout.split('\n')) {
    if (/^\s*echo jobset \d+, \d+ jobs?$/.test(line)) {
      sets.push([]);
      continue;
    }
    const m = /^\s*gnt-instance (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const cmd = /^(migrate|failover) -f -n (\S+) (\S+)$/.exec(m[2]!);
    if (!cmd || m[1] !== cmd[1] || !sets.length) throw new Error(`unexpected hbal command: ${line.trim()}`);
    sets.at(-1)!.push({ how: cmd[1] as Move['how'], target: fullName(cmd[2]!, NODES), instance: fullName(cmd[3]!, INSTANCES) });
  }
  return sets;
}

const score = (out: string, which: 'Initial' | 'Final'): number => {
  const m = new RegExp(`^${which} score: ([0-9.]+)$`, 'm').exec(out);
  if (!m) throw new Error(`no "${which} score" line in hbal output`);
  return Number(m[1]);
};

async function createInstances(t: ExecutionContext, c: TestCluster): Promise<void> {
  const ids: number[] = [];
  for (const name of INSTANCES) {
    const shared = SHARED.has(name);
    const res = await c.w('POST', '/2/instances', {
      body: createBody(name, {
        pnode: NODE,
        beparams: { memory: MEMORY },
        ...(shared ? { disk_template: 'sharedfile', disks: [{ size: 1024 }] } : {}),
      }),
    });
    t.is(res.status, 200, `create ${name}: ${res.text}`);
    ids.push(res.json);
  }
  for (const [i, id] of ids.entries()) {
    const job = await waitForJob(c.rapid, id, WRITER, 60_000);
    t.is(job.status, 'success', `create ${INSTANCES[i]} (job ${id}): ${JSON.stringify(job.opresult)}`);
  }
}

const placement = async (c: TestCluster): Promise<Map<string, string>> =>
  new Map((await rapi(c.rapid, 'GET', '/2/instances?bulk=1')).json.map((i: any) => [i.name, i.pnode]));

let c: TestCluster | undefined;
test.after.always(async () => { await c?.stop(); });

test('htools read a 3-node cluster and hbal\'s moves, run through RAPI, balance it', async (t) => {
  t.timeout(300_000);
  for (const name of ['hinfo', 'hbal', 'hspace', 'hcheck', 'hroller']) {
    if (!fs.existsSync(`/usr/bin/${name}`)) {
      t.fail(`/usr/bin/${name} missing: install ganeti-htools`);
      return;
    }
  }
  c = await startCluster({}, [N2, N3]);
  const url = `https://${WRITER.user}:${WRITER.password}@127.0.0.1:${c.rapid.port}`;
  await createInstances(t, c);
  const before = await placement(c);
  t.deepEqual([...before.values()], INSTANCES.map(() => NODE), 'every instance starts on the master');

  // ---- hinfo ----
  {
    const r = await tool(t, 'hinfo', ['-m', url, '-v']);
    t.regex(r.stdout, /^Loaded 3 nodes, 20 instances, 1 node groups?$/m);
  }

  // ---- hspace ----
  {
    const r = await tool(t, 'hspace', ['-m', url, '--machine-readable=yes']);
    const kv = keyValues(r.stdout);
    t.is(kv.HTS_OK, '1');
    t.is(kv.HTS_CLUSTER_NODES, '3');
    t.is(kv.HTS_INI_INST_CNT, '20');
    t.is(kv.HTS_INI_MEM_INST, String(20 * MEMORY));
  }

  // ---- hcheck ----
  {
    const r = await tool(t, 'hcheck', ['-m', url, '--machine-readable']);
    t.is(keyValues(r.stdout).HCHECK_OK, '1');
  }

  // ---- hroller ----
  {
    const r = await tool(t, 'hroller', ['-m', url]);
    t.regex(r.stdout, /Node Reboot Groups/);
  }

  // ---- hbal: the plan ----
  const first = await tool(t, 'hbal', ['-m', url, '-G', 'default', '-C']);
  t.regex(first.stdout, /Loaded 3 nodes, 20 instances/);
  const sets = parseMoves(first.stdout);
  const moves = sets.flat();
  t.true(moves.length > 0, 'hbal suggests moves for 20 instances on one of three nodes');
  const initial = score(first.stdout, 'Initial');
  const predicted = score(first.stdout, 'Final');
  t.true(predicted < initial, `hbal predicts a better score: ${initial} → ${predicted}`);

  // ---- the moves, as RAPI jobs, jobset by jobset ----
  const expected = new Map(before);
  for (const set of sets) {
    const ids = await Promise.all(set.map(async (m) => {
      const res = await c!.w('PUT', `/2/instances/${m.instance}/${m.how}`, { body: { target_node: m.target } });
      t.is(res.status, 200, `${m.how} ${m.instance} → ${m.target}: ${res.text}`);
      return res.json as number;
    }));
    for (const [i, id] of ids.entries()) {
      const job = await waitForJob(c.rapid, id, WRITER, 60_000);
      t.is(job.status, 'success', `${set[i]!.how} ${set[i]!.instance} → ${set[i]!.target} (job ${id}): ${JSON.stringify(job.opresult)}`);
      expected.set(set[i]!.instance, set[i]!.target);
    }
  }
  t.deepEqual(await placement(c), expected, 'every instance is where hbal wanted it');

  // ---- hbal again: a better cluster ----
  const second = await tool(t, 'hbal', ['-m', url, '-G', 'default', '-C']);
  const again = score(second.stdout, 'Initial');
  t.true(again < initial, `score after the moves ${again} < before ${initial}`);
  t.true(Math.abs(again - predicted) < 1e-6, `score after the moves ${again} = hbal's prediction ${predicted}`);
});
