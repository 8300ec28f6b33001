#!/usr/bin/env node
// `rapid`: the operator's command line, gnt-style. It talks to the cluster's
// Redis (REDIS_URL, or the embedded one under RAPID_DATA_DIR).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect, closeQuietly } from './store/redis.ts';
import { ConfigStore } from './store/config.ts';
import { JobStore } from '../jobs/store.ts';
import { JobQueue } from '../jobs/queue.ts';
import { fillOpcode, type Opcode } from '../jobs/opcodes.ts';
import { calcStatus } from '../jobs/status.ts';
import { nodeDict, niceSort } from '../rapi/views.ts';
import { TokenStore, isExpired } from '../rapi/tokens.ts';
import { UsersFile } from '../rapi/users.ts';

const USAGE = `usage:
  rapid node list
  rapid node add NAME [--primary-ip IP] [--secondary-ip IP] [--group GROUP]
  rapid node remove NAME
  rapid token create --user NAME [--expires SECONDS] [--description TEXT]
  rapid token list
  rapid token revoke ID
environment: REDIS_URL, or RAPID_DATA_DIR (default ./data) for the embedded Redis`;

const dataDir = () => path.resolve(process.env.RAPID_DATA_DIR || './data');

function redisUrl(): string {
  return process.env.REDIS_URL || path.join(dataDir(), 'redis', 'redis.sock');
}

/** gnt-node list's default columns. */
function table(rows: (string | number | null)[][]): string {
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined ? '?' : String(v))));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' ').trimEnd()).join('\n');
}

const unit = (mib: unknown) => (typeof mib === 'number' ? (mib >= 1024 ? `${(mib / 1024).toFixed(1)}G` : `${mib}M`) : null);

async function runJob(redis: ReturnType<typeof connect>, op: Opcode): Promise<number> {
  const jobs = new JobStore(redis);
  const queue = new JobQueue(redis, jobs);
  const id = await queue.submit([op]);
  await queue.close();
  console.log(`Submitted job ${id}`);
  for (;;) {
    const rec = await jobs.get(id);
    const status = rec ? calcStatus(rec.opstatus) : 'error';
    if (status === 'success') return 0;
    if (status === 'error' || status === 'canceled') {
      const err = rec?.opresult.find((r) => Array.isArray(r)) as [string, [string, string?]] | undefined;
      console.error(`Failure: ${err ? `${err[0]}: ${err[1][0]}` : status}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const isoTime = (s: number | null) => (s === null ? 'never' : new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z'));

/** Bearer tokens (rapi/tokens.ts); the secret is printed once, on stdout alone. */
async function tokenCommand(redis: ReturnType<typeof connect>, verb: string, id: string | undefined,
  values: { user?: string; expires?: string; description?: string }): Promise<number> {
  const tokens = new TokenStore(redis);
  switch (verb) {
    case 'create': {
      if (!values.user) break;
      const usersPath = path.join(dataDir(), 'users');
      const users = new UsersFile(usersPath);
      users.load();
      // The daemon would refuse such a token anyway; say so now.
      if (!users.get(values.user)) {
        console.error(`rapid: no user '${values.user}' in ${usersPath}`);
        return 1;
      }
      if (values.expires !== undefined && !/^[1-9]\d*$/.test(values.expires)) {
        console.error('rapid: --expires takes a positive number of seconds');
        return 2;
      }
      const { token, info } = await tokens.create(values.user, {
        expiresIn: values.expires === undefined ? undefined : Number(values.expires), description: values.description,
      });
      console.error(`rapid: token ${info.id} for user ${info.user}, expires ${isoTime(info.expires)}; it is not shown again`);
      console.log(token);
      return 0;
    }
    case 'list': {
      const now = Date.now() / 1000;
      console.log(table([['ID', 'User', 'Created', 'Expires', 'Description'],
        ...(await tokens.list()).map((t) => [t.id, t.user, isoTime(t.created), isExpired(t, now) ? 'expired' : isoTime(t.expires), t.description])]));
      return 0;
    }
    case 'revoke':
      if (!id) break;
      if (!(await tokens.revoke(id))) {
        console.error(`rapid: no token ${id}`);
        return 1;
      }
      console.log(`Revoked token ${id}`);
      return 0;
  }
  console.error(USAGE);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      'primary-ip': { type: 'string' }, 'secondary-ip': { type: 'string' }, group: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      user: { type: 'string' }, expires: { type: 'string' }, description: { type: 'string' },
    },
  });
  const [area, verb, name] = positionals;
  if (values.help || (area !== 'node' && area !== 'token') || !verb) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const redis = connect(redisUrl());
  try {
    if (area === 'token') return await tokenCommand(redis, verb, name, values);
    const reason = [['rapid:cli', `node ${verb}`, Date.now() * 1e6]];
    switch (verb) {
      case 'list': {
        const cfg = new ConfigStore(redis);
        await cfg.reload();
        const nodes = niceSort(cfg.all('node').map((n) => n.name)).map((n) => nodeDict(cfg, cfg.byName('node', n)!));
        console.log(table([['Node', 'DTotal', 'DFree', 'MTotal', 'MNode', 'MFree', 'Pinst', 'Sinst'],
          ...nodes.map((n) => [n.name as string, unit(n.dtotal), unit(n.dfree), unit(n.mtotal), unit(n.mnode), unit(n.mfree), n.pinst_cnt as number, n.sinst_cnt as number])]));
        return 0;
      }
      case 'add':
        if (!name) break;
        return await runJob(redis, fillOpcode('OP_NODE_ADD', {
          node_name: name, primary_ip: values['primary-ip'] ?? null, secondary_ip: values['secondary-ip'] ?? null, group: values.group ?? null, reason,
        }));
      case 'remove':
        if (!name) break;
        return await runJob(redis, fillOpcode('OP_NODE_REMOVE', { node_name: name, reason }));
    }
    console.error(USAGE);
    return 2;
  } finally {
    await closeQuietly(redis);
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`rapid: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
