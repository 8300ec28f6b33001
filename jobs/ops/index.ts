// The opcodes rapid can execute. An opcode Ganeti defines but rapid does not
// yet implement is accepted at submission (it is valid Ganeti) and fails its
// job with a clear message.
import { OpPrereqError } from '../errors.ts';
import type { OpImpl } from './context.ts';
import { OP_TAGS_DEL, OP_TAGS_SET } from './tags.ts';
import {
  OP_INSTANCE_CREATE, OP_INSTANCE_QUERY_DATA, OP_INSTANCE_REBOOT, OP_INSTANCE_REINSTALL, OP_INSTANCE_REMOVE,
  OP_INSTANCE_SHUTDOWN, OP_INSTANCE_STARTUP,
} from './instance.ts';
import { OP_TEST_DELAY } from './test-delay.ts';

const IMPLS: Record<string, OpImpl> = {
  OP_TAGS_SET, OP_TAGS_DEL,
  OP_INSTANCE_CREATE, OP_INSTANCE_REMOVE, OP_INSTANCE_STARTUP, OP_INSTANCE_SHUTDOWN, OP_INSTANCE_REBOOT,
  OP_INSTANCE_REINSTALL, OP_INSTANCE_QUERY_DATA,
  OP_TEST_DELAY,
};

export function opImpl(opId: string): OpImpl {
  const impl = IMPLS[opId];
  if (!impl) throw new OpPrereqError(`Opcode ${opId} is not implemented by rapid yet`, 'wrong_input');
  return impl;
}
