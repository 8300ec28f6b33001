// Running Ganeti's htools (Debian ganeti-htools) against rapid: each run is
// logged, its exit status checked, and its stderr must hold nothing but the
// "inconsistent data" note about disk (every node reports the host file
// system its storage lives on, which holds more than the instances' disks).
// A memory mismatch is not excused: the fake hypervisor accounts memory exactly.
import type { ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { runProgram, type Run } from './run.ts';

export function unexpectedStderr(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !/^Warning: cluster has inconsistent data:$/.test(l))
    .filter((l) => !/^ {2}- node \S+ is missing 0 MB ram and -?\d+ GB disk$/.test(l));
}

/** Runs /usr/bin/<name>, logs it (credentials masked) and checks exit status and stderr. */
export async function htool(t: ExecutionContext, name: string, args: string[], expectCode = 0): Promise<Run> {
  const r = await runProgram(`/usr/bin/${name}`, args);
  const shown = args.map((a) => a.replace(/\/\/[^@/]*@/, '//***@')).join(' ');
  t.log(`$ ${name} ${shown}  (exit ${r.code})\n${r.stdout.trimEnd()}${r.stderr.trim() ? `\n[stderr]\n${r.stderr.trimEnd()}` : ''}`);
  t.is(r.code, expectCode, `${name} ${shown} exit status; stderr: ${r.stderr.trim()}`);
  if (expectCode === 0) t.deepEqual(unexpectedStderr(r.stderr), [], `${name} ${shown}: unexpected stderr`);
  return r;
}

/** KEY=value lines of htools' machine-readable output. */
export function keyValues(out: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) kv[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return kv;
}

/** Fails the test (never skips it) when the htools package is not installed. */
export function htoolsInstalled(t: ExecutionContext): boolean {
  for (const name of ['hinfo', 'hbal', 'hspace', 'hcheck', 'hroller']) {
    if (!existsSync(`/usr/bin/${name}`)) {
      t.fail(`/usr/bin/${name} missing: install ganeti-htools`);
      return false;
    }
  }
  return true;
}
