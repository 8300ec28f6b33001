// The config store on a real Redis: atomic multi-object writes with
// compare-and-set on serial_no, and every process's snapshot following along.
import test from 'ava';
import { startRedis } from './helpers/redis.ts';
import { connect, closeQuietly } from '../src/store/redis.ts';
import { ConfigStore, ConflictError } from '../src/store/config.ts';
import { newNodeGroup } from '../src/defaults.ts';

test('commits are atomic compare-and-set writes that every store sees', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const conns = [connect(redis.url), connect(redis.url), connect(redis.url), connect(redis.url)];
  t.teardown(async () => { for (const c of conns) await closeQuietly(c); });
  const a = new ConfigStore(conns[0]);
  const b = new ConfigStore(conns[1]);
  await a.start(conns[2]);
  await b.start(conns[3]);

  const g1 = newNodeGroup({ name: 'g1', now: 1 });
  const g2 = newNodeGroup({ name: 'g2', now: 1 });
  const s1 = await a.commit([{ kind: 'nodegroup', obj: g1, isNew: true }, { kind: 'nodegroup', obj: g2, isNew: true }]);
  t.is(a.byName('nodegroup', 'g1')?.uuid, g1.uuid, 'the writer reads its own write at once');
  for (let i = 0; i < 100 && b.serial < s1; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(b.byName('nodegroup', 'g2')?.uuid, g2.uuid, 'another process follows by pub/sub');

  // b changes g1; a's write based on the old serial must fail and change nothing.
  const fromB = b.byName('nodegroup', 'g1')!;
  await b.commit([{ kind: 'nodegroup', obj: { ...fromB, tags: ['b'] } }]);
  await t.throwsAsync(a.commit([
    { kind: 'nodegroup', obj: { ...g2, tags: ['a'] } },
    { kind: 'nodegroup', obj: { ...g1, tags: ['a'] } },
  ]), { instanceOf: ConflictError });
  await a.reload();
  t.deepEqual(a.byName('nodegroup', 'g1')?.tags, ['b']);
  t.deepEqual(a.byName('nodegroup', 'g2')?.tags, [], 'nothing of the failed batch was written');
  t.is(a.byName('nodegroup', 'g1')?.serial_no, 2);

  await t.throwsAsync(a.commit([{ kind: 'nodegroup', obj: g2, isNew: true }]), { instanceOf: ConflictError }, 'no duplicate creation');
  await a.commit([], [{ kind: 'nodegroup', obj: a.byName('nodegroup', 'g2')! }]);
  for (let i = 0; i < 100 && b.byName('nodegroup', 'g2'); i++) await new Promise((r) => setTimeout(r, 10));
  t.is(b.byName('nodegroup', 'g2'), undefined, 'deletions reach every store');
  await a.stop();
  await b.stop();
});
