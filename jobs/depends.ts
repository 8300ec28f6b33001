// Ganeti's job dependencies (jqueue _JobDependencyManager): an opcode's
// `depends` lists [job id, [final statuses]]; it runs once every listed job
// has finished in one of those statuses (any final status when the list is empty).
import type { JobStore } from './store.ts';
import { calcStatus, FINALIZED, type JobStatus } from './status.ts';
import type { Opcode } from './opcodes.ts';

export type Dependency = [number | string, JobStatus[]];
export type DepOutcome =
  | { kind: 'continue' }
  | { kind: 'wait'; message: string }
  | { kind: 'cancel'; message: string }
  | { kind: 'error'; message: string };

/**
 * Negative ids are relative to the job itself (-1: the job submitted just
 * before it), as Ganeti 3.0's queue resolves them when the job is created.
 */
export function resolveRelative(ops: Opcode[], jobId: number): Opcode[] {
  return ops.map((op) => {
    const deps = op.depends as Dependency[] | null;
    if (!deps?.some(([d]) => Number(d) < 0)) return op;
    return { ...op, depends: deps.map(([d, st]) => [Number(d) < 0 ? jobId + Number(d) : Number(d), st]) };
  });
}

export const hasRelative = (ops: Opcode[]) => ops.some((op) => (op.depends as Dependency[] | null)?.some(([d]) => Number(d) < 0));

export async function checkDependencies(jobs: JobStore, selfId: number, op: Opcode): Promise<DepOutcome> {
  for (const [raw, wanted] of (op.depends as Dependency[] | null) ?? []) {
    const depId = Number(raw);
    if (depId === selfId) return { kind: 'error', message: "Job can't depend on itself" };
    const dep = await jobs.get(depId);
    if (!dep) return { kind: 'error', message: `Dependency error: Job ${depId} not found` };
    const status = calcStatus(dep.opstatus);
    if (!FINALIZED.has(status)) return { kind: 'wait', message: `Need to wait for job ${depId}, wanted status '${wanted.join(', ')}'` };
    if (status === 'canceled' && !wanted.includes('canceled')) return { kind: 'cancel', message: `Dependency job ${depId} was cancelled` };
    if (wanted.length && !wanted.includes(status)) {
      return { kind: 'error', message: `Dependency job ${depId} finished with status '${status}', not one of '${wanted.join(', ')}' as required` };
    }
  }
  return { kind: 'continue' };
}
