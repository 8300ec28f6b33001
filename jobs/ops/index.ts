// The opcodes rapid can execute: every `OP_*` export of the area modules. An
// opcode Ganeti defines but rapid does not implement is still accepted at
// submission (it is valid Ganeti) and fails its job with a clear message.
import { OpPrereqError } from '../errors.ts';
import type { OpImpl } from './context.ts';
import * as tags from './tags.ts';
import * as instance from './instance.ts';
import * as node from './node.ts';
import * as testDelay from './test-delay.ts';
import * as network from './network.ts';
import * as group from './group.ts';
import * as instanceModify from './instance-modify.ts';
import * as instanceMove from './instance-move.ts';
import * as instanceDisks from './instance-disks.ts';
import * as instanceExport from './instance-export.ts';
import * as nodeActions from './node-actions.ts';
import * as cluster from './cluster.ts';
import * as multiAlloc from './multi-alloc.ts';
import * as os from './os.ts';
import * as replaceDisks from './replace-disks.ts';

const AREAS: Record<string, unknown>[] = [
  tags, instance, node, testDelay, network, group, instanceModify, instanceMove, instanceDisks, instanceExport, nodeActions, cluster, multiAlloc, os, replaceDisks,
];

const IMPLS: Record<string, OpImpl> = Object.fromEntries(
  AREAS.flatMap((m) => Object.entries(m).filter(([name]) => name.startsWith('OP_'))),
) as Record<string, OpImpl>;

export function opImpl(opId: string): OpImpl {
  const impl = IMPLS[opId];
  if (!impl) throw new OpPrereqError(`Opcode ${opId} is not implemented by rapid yet`, 'wrong_input');
  return impl;
}

export const implementedOpcodes = (): string[] => Object.keys(IMPLS).sort();
