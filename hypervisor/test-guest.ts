// The tiny guest scripts/build-test-guest.sh makes from Debian packages
// (cached): what the accelerator probe boots and what tests run.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface TestGuest { kernel: string; initrd: string }

/** Builds the guest, or finds it built; the script prints its directory last. */
export async function buildTestGuest(): Promise<TestGuest> {
  const repo = path.resolve(fileURLToPath(import.meta.url), '../../..');
  const { stdout } = await promisify(execFile)('bash', [path.join(repo, 'scripts/build-test-guest.sh')], { maxBuffer: 1 << 20 });
  const dir = stdout.trim().split('\n').pop()!;
  return { kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.gz') };
}
