import { describe, expect, it } from 'vitest';
import { DagBag } from './dagbag.ts';
import { ManualClock, MemoryDagVersionLoader, makeDagDocument } from './testing.ts';

function setup(versions: number) {
  const clock = new ManualClock();
  const loader = new MemoryDagVersionLoader();
  for (let i = 1; i <= versions; i++)
    loader.add(makeDagDocument({ taskCount: 2, seed: i, dagId: `dag_${i}` }), {
      versionId: `v${i}`,
    });
  const bag = new DagBag({
    role: 'scheduler',
    loader,
    clock,
    settings: { maxEntries: 0, maxBytes: 0, ttlSeconds: 0, revalidateSeconds: 3600 },
  });
  return { bag, loader, clock };
}

describe('coherence driven by change notifications', () => {
  it('invalidate(versionId) makes the next lookup load the version changed in place', async () => {
    const { bag, loader } = setup(2);
    const before = (await bag.get('v1'))!;
    loader.replace('v1', makeDagDocument({ taskCount: 5, seed: 99, dagId: 'dag_1' }));
    expect(bag.invalidate('v1')).toBe(true);
    const after = (await bag.get('v1'))!;
    expect(after.dagHash).not.toBe(before.dagHash);
    expect(after.dag.tasks.size).toBe(5);
    expect(bag.stats().evictions.invalidated).toBe(1);
  });

  it('revalidateResident() checks every resident hash in one loader call and drops only the changed and the deleted', async () => {
    const { bag, loader } = setup(4);
    for (const id of ['v1', 'v2', 'v3', 'v4']) await bag.get(id);
    const unchanged = bag.getIfCached('v1');
    loader.replace('v2', makeDagDocument({ taskCount: 3, seed: 7, dagId: 'dag_2' }));
    loader.delete('v3');
    const calls = { ...loader.calls };

    expect(await bag.revalidateResident()).toEqual({ checked: 4, invalidated: 2 });
    expect(loader.calls.readHashes - calls.readHashes).toBe(1);
    expect(loader.calls.readHash).toBe(calls.readHash);
    expect(loader.calls.loadVersions).toBe(calls.loadVersions);
    expect([bag.has('v1'), bag.has('v2'), bag.has('v3'), bag.has('v4')]).toEqual([
      true,
      false,
      false,
      true,
    ]);
    expect(bag.getIfCached('v1')).toBe(unchanged);
    expect((await bag.get('v2'))!.dag.tasks.size).toBe(3);
    expect(await bag.get('v3')).toBeNull();
  });

  it('revalidateResident() on an empty cache asks the loader nothing', async () => {
    const { bag, loader } = setup(1);
    expect(await bag.revalidateResident()).toEqual({ checked: 0, invalidated: 0 });
    expect(loader.calls.readHashes).toBe(0);
  });

  it('revalidateResident() restarts the revalidation window of the entries it confirmed', async () => {
    const clock = new ManualClock();
    const loader = new MemoryDagVersionLoader();
    loader.add(makeDagDocument({ taskCount: 2, seed: 1, dagId: 'dag_1' }), { versionId: 'v1' });
    const bag = new DagBag({
      role: 'api',
      loader,
      clock,
      settings: { maxEntries: 0, maxBytes: 0, ttlSeconds: 0, revalidateSeconds: 30 },
    });
    await bag.get('v1');
    clock.advanceSeconds(29);
    await bag.revalidateResident();
    clock.advanceSeconds(29);
    expect(bag.getIfCached('v1')).toBeDefined();
    expect(loader.calls.readHash).toBe(0);
  });
});
