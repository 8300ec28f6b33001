// OP_TAGS_SET / OP_TAGS_DEL on any taggable object (cmdlib/tags.py).
import { OpExecError, OpPrereqError, TagError } from '../errors.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import type { Kind, KindMap } from '../../src/model.ts';
import type { LockRequest } from '../locks.ts';
import type { Opcode } from '../opcodes.ts';
import { define } from './context.ts';
import { findGroup, findInstance, findNetwork, findNode } from './lookup.ts';
import { BGL, BGL_SHARED } from './lock-requests.ts';

const MAX_TAG_LEN = 128;
const MAX_TAGS_PER_OBJ = 4096;
const VALID_TAG = /^[\p{L}\p{N}_.+*/:@-]+$/u;

export function validateTag(tag: unknown): void {
  if (typeof tag !== 'string') throw new TagError('Invalid tag type (not a string)');
  if (tag.length > MAX_TAG_LEN) throw new TagError(`Tag too long (>${MAX_TAG_LEN} characters)`);
  if (!tag) throw new TagError('Tags cannot be empty');
  if (!VALID_TAG.test(tag)) throw new TagError('Tag contains invalid characters');
}

type Target = { kind: Kind; obj: KindMap[Kind] };

export function tagTarget(cfg: ConfigStore, op: Opcode): Target {
  switch (op.kind) {
    case 'cluster': return { kind: 'cluster', obj: cfg.cluster };
    case 'instance': return { kind: 'instance', obj: findInstance(cfg, op.name) };
    case 'node': return { kind: 'node', obj: findNode(cfg, op.name) };
    case 'nodegroup': return { kind: 'nodegroup', obj: findGroup(cfg, op.name) };
    case 'network': return { kind: 'network', obj: findNetwork(cfg, op.name) };
    default: throw new OpPrereqError(`Wrong tag type requested (${op.kind})`, 'wrong_input');
  }
}

function tagLocks(op: Opcode): LockRequest[] {
  if (op.kind === 'cluster') return [BGL];
  const level = op.kind as LockRequest['level'];
  return [BGL_SHARED, { level, name: String(op.name), shared: false }];
}

export const OP_TAGS_SET = define({
  locks: tagLocks,
  prereq(op, ctx) {
    const t = tagTarget(ctx.cfg, op);
    for (const tag of op.tags as unknown[]) validateTag(tag);
    return t;
  },
  async exec(t, op, ctx) {
    const tags = new Set(t.obj.tags);
    for (const tag of op.tags as string[]) {
      if (!tags.has(tag) && tags.size >= MAX_TAGS_PER_OBJ) throw new OpExecError('Error while setting tag: Too many tags');
      tags.add(tag);
    }
    await ctx.cfg.commit([{ kind: t.kind, obj: { ...t.obj, tags: [...tags] } }]);
    return null;
  },
});

export const OP_TAGS_DEL = define({
  locks: tagLocks,
  prereq(op, ctx) {
    const t = tagTarget(ctx.cfg, op);
    for (const tag of op.tags as unknown[]) validateTag(tag);
    const have = new Set(t.obj.tags);
    const missing = (op.tags as string[]).filter((tag) => !have.has(tag));
    if (missing.length) {
      // Ganeti prints the missing tags as a sorted, quoted, comma-joined list.
      throw new OpPrereqError(`Tag(s) ${missing.sort().map((m) => `'${m}'`).join(', ')} not found`, 'unknown_entity');
    }
    return t;
  },
  async exec(t, op, ctx) {
    const drop = new Set(op.tags as string[]);
    await ctx.cfg.commit([{ kind: t.kind, obj: { ...t.obj, tags: t.obj.tags.filter((x) => !drop.has(x)) } }]);
    return null;
  },
});
