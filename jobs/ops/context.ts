// What an opcode implementation may use while it runs. Opcode modules are
// plain data + functions: which locks they need, what they check before
// changing anything (so dry runs and failures change nothing), and what they do.
import type { ConfigStore } from '../../src/store/config.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import type { NodeCall } from '../node-rpc.ts';

export interface OpContext {
  readonly jobId: number;
  readonly cfg: ConfigStore;
  readonly dryRun: boolean;
  /** Append a message to this opcode's oplog. */
  log(message: string): Promise<void>;
  /** Run a step on a node's worker and wait for its result. */
  node: NodeCall;
  /** Submit a child job (Ganeti's {"jobs": [[true, id], …]} results); returns its id. */
  submit(ops: Opcode[]): Promise<number>;
}

export interface OpImpl<P = unknown> {
  /** Locks taken before prereq; computed from the opcode and a config read. */
  locks(op: Opcode, cfg: ConfigStore): LockRequest[];
  /** Ganeti's CheckPrereq: validate against current config; returns a plan. */
  prereq(op: Opcode, ctx: OpContext): P | Promise<P>;
  /** Ganeti's Exec: carry out the plan. Skipped for dry runs. */
  exec(plan: P, op: Opcode, ctx: OpContext): Promise<unknown>;
}

export const define = <P>(impl: OpImpl<P>): OpImpl<unknown> => impl as OpImpl<unknown>;
