// OP_TEST_DELAY (cmdlib/test.py LUTestDelay): sleeps on the master and/or
// nodes; a negative duration fails. Used to exercise queueing and locks.
import { OpExecError } from '../errors.ts';
import { define } from './context.ts';
import { findNode } from './lookup.ts';
import { STEP } from '../node-rpc.ts';

export const OP_TEST_DELAY = define<string[]>({
  locks: (op) => (op.no_locks ? [] : (op.on_nodes as string[]).map((name) => ({ level: 'node' as const, name, shared: false }))),
  prereq: (op, ctx) => (op.on_nodes as string[]).map((n) => findNode(ctx.cfg, n).name),
  async exec(nodes, op, ctx) {
    const duration = Number(op.duration);
    if (duration < 0) throw new OpExecError('Failed to sleep on the master node: negative duration');
    for (let i = 0; i <= Number(op.repeat); i++) {
      if (op.on_master) await new Promise((r) => setTimeout(r, duration * 1000));
      for (const n of nodes) await ctx.node(n, STEP.delay, { duration });
      if (Number(op.repeat) > 0) await ctx.log(`Test delay iteration ${i + 1}/${op.repeat}`);
    }
    return null;
  },
});
