// Ganeti reference material the conformance tests check rapid against
// (test/fixtures/ganeti/, copied from the project's shared reference).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './pids.ts';

export const REFERENCE_DIR = path.join(repoRoot, 'test', 'fixtures', 'ganeti');

export const readReference = (name: string): string => readFileSync(path.join(REFERENCE_DIR, name), 'utf8');
