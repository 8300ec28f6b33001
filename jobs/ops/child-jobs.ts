// Opcodes whose result is more jobs (Ganeti's ResultWithJobs): node
// evacuation and migration, instance multi-allocation.
import type { Opcode } from '../opcodes.ts';
import type { OpContext } from './context.ts';

/**
 * mcpu._ProcessResult for ResultWithJobs: each child opcode inherits the
 * parent's debug level, priority and reason trail and gets a comment naming
 * it; the result lists every submitted job as [true, job id].
 */
export async function submitChildJobs(ctx: OpContext, parent: Opcode, jobs: Opcode[][]): Promise<{ jobs: [boolean, number][] }> {
  const out: [boolean, number][] = [];
  for (const ops of jobs) {
    const children = ops.map((op) => ({
      ...op,
      debug_level: parent.debug_level ?? null,
      priority: parent.priority,
      comment: op.comment || `Submitted by ${parent.OP_ID}`,
      reason: [...((op.reason as unknown[] | null) ?? []), ...((parent.reason as unknown[] | null) ?? [])],
    }));
    out.push([true, await ctx.submit(children)]);
  }
  return { jobs: out };
}
