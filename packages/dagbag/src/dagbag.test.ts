import { describe, expect, it } from 'vitest';
import { DagBag, type DagBagOptions } from './dagbag.ts';
import { DagValidationError } from './dag.ts';
import { dagDocumentSchema } from './document.ts';
import type { DagCacheSettings } from './settings.ts';
import { ManualClock, MemoryDagVersionLoader, makeDagDocument, seededRandom } from './testing.ts';
import { entryWeight } from './weight.ts';

function tinyDocument(i: number) {
  return dagDocumentSchema.parse({
    dag_id: `dag_${i}`,
    tasks: [{ task_id: 'only', operator: 'empty' }],
  });
}

/** Every limit off unless a test turns it on, so each test shows exactly one behaviour. */
const OFF: DagCacheSettings = {
  maxEntries: 0,
  maxBytes: 0,
  ttlSeconds: 0,
  revalidateSeconds: 0,
  negativeTtlSeconds: 5,
  maxNegativeEntries: 100,
};

function setup(
  options: {
    versions?: number;
    settings?: Partial<DagCacheSettings>;
    admission?: boolean;
    adaptiveWindow?: boolean;
    role?: DagBagOptions['role'];
    serializedBytes?: number;
  } = {},
) {
  const clock = new ManualClock();
  const loader = new MemoryDagVersionLoader();
  const ids: string[] = [];
  for (let i = 1; i <= (options.versions ?? 10); i++) {
    ids.push(
      loader.add(tinyDocument(i), {
        versionId: `v${i}`,
        serializedBytes: options.serializedBytes ?? 100,
      }).versionId,
    );
  }
  const bag = new DagBag({
    role: options.role ?? 'api',
    loader,
    clock,
    admission: options.admission ?? true,
    ...(options.adaptiveWindow === undefined ? {} : { adaptiveWindow: options.adaptiveWindow }),
    settings: { ...OFF, ...options.settings },
  });
  return { clock, loader, bag, ids };
}

async function sweep(bag: DagBag, ids: readonly string[], rounds: number): Promise<number[]> {
  const hitsPerRound: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const before = bag.stats().hits;
    for (const id of ids) await bag.get(id);
    hitsPerRound.push(bag.stats().hits - before);
  }
  return hitsPerRound;
}

describe('DagBag lookups', () => {
  it('answers a hit without calling the loader', async () => {
    const { bag, loader } = setup();
    const first = await bag.get('v1');
    const second = await bag.get('v1');
    expect(second).toBe(first);
    expect(loader.calls.loadVersions).toBe(1);
    expect(bag.stats()).toMatchObject({ hits: 1, misses: { loaded: 1, not_found: 0 }, loads: 1 });
  });

  it('returns a deserialized, frozen DAG with the row fields', async () => {
    const { bag } = setup();
    const entry = (await bag.get('v3'))!;
    expect(entry).toMatchObject({
      versionId: 'v3',
      dagId: 'dag_3',
      versionNumber: 1,
      weight: entryWeight(100),
    });
    expect(entry.dag.topologicalOrder).toEqual(['only']);
    expect(Object.isFrozen(entry)).toBe(true);
  });

  it('getIfCached answers resident versions synchronously and undefined otherwise', async () => {
    const { bag } = setup();
    expect(bag.getIfCached('v1')).toBeUndefined();
    const entry = await bag.get('v1');
    expect(bag.getIfCached('v1')).toBe(entry);
    expect(bag.stats().hits).toBe(1);
  });

  it('shares one load among 100 concurrent gets of 5 cold keys, all in one query', async () => {
    const { bag, loader } = setup();
    const keys = ['v1', 'v2', 'v3', 'v4', 'v5'];
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => bag.get(keys[i % 5]!)));
    expect(loader.calls).toMatchObject({ loadVersions: 1, versionsRequested: 5 });
    expect(results.every((entry, i) => entry?.versionId === keys[i % 5])).toBe(true);
    expect(bag.stats()).toMatchObject({
      loads: 5,
      coalesced: 95,
      misses: { loaded: 100, not_found: 0 },
    });
  });

  it('100 concurrent misses on 100 different keys cost one query', async () => {
    const { bag, loader, ids } = setup({ versions: 100 });
    const results = await Promise.all(ids.map((id) => bag.get(id)));
    expect(results.map((entry) => entry?.versionId)).toEqual(ids);
    expect(loader.calls).toMatchObject({ loadVersions: 1, versionsRequested: 100 });
    expect(bag.stats()).toMatchObject({ loads: 100, load_queries: 1, entries: 100 });
  });

  it('getVersion answers a resident version without the loader and a cold one in one call', async () => {
    const { bag, loader } = setup();
    const first = await bag.getVersion('dag_3', 1);
    expect(first?.versionId).toBe('v3');
    expect(loader.calls).toMatchObject({ loadVersionsByNumber: 1, loadVersions: 0 });
    expect(await bag.getVersion('dag_3', 1)).toBe(first);
    // An unknown number is asked for again: the DAG's next version may appear any moment.
    expect(await bag.getVersion('dag_3', 2)).toBeNull();
    loader.add(tinyDocument(3), { versionId: 'v3b' });
    expect((await bag.getVersion('dag_3', 2))?.versionId).toBe('v3b');
    expect(loader.calls).toMatchObject({ loadVersionsByNumber: 3, loadVersions: 0 });
    bag.invalidate('v3');
    expect((await bag.getVersion('dag_3', 1))?.versionId).toBe('v3');
    expect(loader.calls.loadVersionsByNumber).toBe(4);
  });

  it('getVersion misses of one event-loop turn share one query', async () => {
    const { bag, loader } = setup();
    const entries = await Promise.all([1, 2, 3, 4].map((i) => bag.getVersion(`dag_${i}`, 1)));
    expect(entries.map((entry) => entry?.versionId)).toEqual(['v1', 'v2', 'v3', 'v4']);
    expect(loader.calls.loadVersionsByNumber).toBe(1);
  });

  it('prewarm loads the active versions in one call and later lookups hit', async () => {
    const { bag, loader } = setup();
    loader.active = new Set(['v2', 'v4', 'v6']);
    await bag.get('v2');
    expect(await bag.prewarm()).toEqual({ loaded: 2 });
    expect(loader.calls).toMatchObject({ loadActiveVersions: 1, loadVersions: 1 });
    for (const id of ['v2', 'v4', 'v6']) expect(bag.getIfCached(id)?.versionId).toBe(id);
  });

  it('validates a document once: loaded again after its eviction, its known dag_hash skips validation', async () => {
    const { bag } = setup();
    await bag.get('v1');
    expect(bag.stats().validations_skipped).toBe(0);
    bag.invalidate('v1');
    await bag.get('v1');
    expect(bag.stats().validations_skipped).toBe(1);
  });

  it('validates a row whose dag_hash is new, and refuses it if invalid even after a valid one was seen', async () => {
    const { bag, loader } = setup();
    await bag.get('v1');
    loader.rows.set('bad', {
      ...loader.rows.get('v1')!,
      versionId: 'bad',
      dagHash: 'another-hash',
      data: { dag_id: 'x', tasks: [{ task_id: 'a', operator: 'python' }] },
    });
    await expect(bag.get('bad')).rejects.toBeInstanceOf(DagValidationError);
    expect(bag.stats().validations_skipped).toBe(0);
  });

  it('remembers an unknown id for the negative TTL, then asks again', async () => {
    const { bag, loader, clock } = setup();
    expect(await bag.get('nope')).toBeNull();
    expect(await bag.get('nope')).toBeNull();
    expect(loader.calls.loadVersions).toBe(1);
    clock.advanceSeconds(6);
    expect(await bag.get('nope')).toBeNull();
    expect(loader.calls.loadVersions).toBe(2);
    expect(bag.stats()).toMatchObject({ negative_hits: 1, misses: { loaded: 0, not_found: 2 } });
  });

  it('bounds the negative cache', async () => {
    const { bag } = setup({ settings: { maxNegativeEntries: 3 } });
    for (let i = 0; i < 10; i++) await bag.get(`unknown-${i}`);
    expect(bag.stats().negative_entries).toBe(3);
  });

  it('resolves getForRun and getLatest in one loader call each, the document only when not resident', async () => {
    const { bag, loader } = setup();
    loader.add(tinyDocument(1), { versionId: 'v1b' });
    loader.runs.set('dag_1/manual__1', 'v1');
    expect((await bag.getForRun('dag_1', 'manual__1'))?.versionId).toBe('v1');
    expect(await bag.getForRun('dag_1', 'missing')).toBeNull();
    expect((await bag.getLatest('dag_1'))?.versionId).toBe('v1b');
    expect(await bag.getLatest('no_such_dag')).toBeNull();
    expect((await bag.getForRun('dag_1', 'manual__1'))?.versionId).toBe('v1');
    expect((await bag.getLatest('dag_1'))?.versionId).toBe('v1b');
    expect(loader.calls).toMatchObject({
      resolveVersion: 6,
      resolvedWithDocument: 2,
      loadVersions: 0,
    });
    expect(bag.stats()).toMatchObject({ hits: 2, misses: { loaded: 2 } });
  });

  it('does not admit a load that was invalidated while in flight', async () => {
    const { bag } = setup();
    const pending = bag.get('v1');
    bag.invalidate('v1');
    expect((await pending)?.versionId).toBe('v1');
    expect(bag.has('v1')).toBe(false);
  });

  it('passes a loader failure to every waiter and caches nothing', async () => {
    const { bag, loader } = setup();
    loader.loadVersions = async () => {
      throw new Error('database unreachable');
    };
    const results = await Promise.allSettled([bag.get('v1'), bag.get('v1')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(bag.stats()).toMatchObject({ load_failures: 1, entries: 0, negative_entries: 0 });
  });

  it('rejects a stored document that does not validate', async () => {
    const { bag, loader } = setup();
    loader.rows.set('bad', {
      ...loader.rows.get('v1')!,
      versionId: 'bad',
      data: { dag_id: 'x', tasks: [{ task_id: 'a', operator: 'python' }] },
    });
    await expect(bag.get('bad')).rejects.toBeInstanceOf(DagValidationError);
  });

  it('invalidate and clear remove entries with reason invalidated; clear returns the count', async () => {
    const { bag } = setup();
    for (const id of ['v1', 'v2', 'v3']) await bag.get(id);
    expect(bag.invalidate('v1')).toBe(true);
    expect(bag.invalidate('v1')).toBe(false);
    expect(bag.clear()).toBe(2);
    expect(bag.stats()).toMatchObject({ entries: 0, evictions: { invalidated: 3 } });
  });
});

describe('DagBag caps', () => {
  it('with a cap of 2, three distinct loads leave 2 entries and count one capacity eviction', async () => {
    const { bag } = setup({ settings: { maxEntries: 2 } });
    for (const id of ['v1', 'v2', 'v3']) await bag.get(id);
    expect(bag.stats()).toMatchObject({
      entries: 2,
      evictions: { capacity: 1, bytes: 0, ttl: 0, inactive: 0, invalidated: 0 },
    });
  });

  it('with admission disabled and a cap of 2, v1 is the one evicted', async () => {
    const { bag } = setup({ admission: false, settings: { maxEntries: 2 } });
    for (const id of ['v1', 'v2', 'v3']) await bag.get(id);
    expect(['v1', 'v2', 'v3'].map((id) => bag.has(id))).toEqual([false, true, true]);
    expect(bag.stats().evictions.capacity).toBe(1);
  });

  it('with a TTL of 1 s, an entry unused for 2 s is gone with reason ttl', async () => {
    const { bag, clock, loader } = setup({ settings: { ttlSeconds: 1 } });
    await bag.get('v1');
    clock.advanceSeconds(2);
    expect(bag.has('v1')).toBe(false);
    await bag.get('v1');
    expect(loader.calls.loadVersions).toBe(2);
    expect(bag.stats().evictions.ttl).toBe(1);
  });

  it('with a TTL of 1 s, an entry used every 0.5 s stays', async () => {
    const { bag, clock, loader } = setup({ settings: { ttlSeconds: 1 } });
    await bag.get('v1');
    for (let i = 0; i < 20; i++) {
      clock.advance(500);
      await bag.get('v1');
    }
    expect(loader.calls.loadVersions).toBe(1);
    expect(bag.stats()).toMatchObject({ hits: 20, evictions: { ttl: 0 } });
  });

  it('purgeExpired removes idle entries without a lookup', async () => {
    const { bag, clock } = setup({ settings: { ttlSeconds: 1 } });
    for (const id of ['v1', 'v2']) await bag.get(id);
    clock.advanceSeconds(2);
    expect(bag.purgeExpired()).toBe(2);
    expect(bag.stats()).toMatchObject({ entries: 0, weight_bytes: 0, evictions: { ttl: 2 } });
  });

  // 8 versions of weight w: an entry cap of 3, a byte cap of 5 w, a TTL of 1 s, each on or off.
  const w = entryWeight(100);
  it.each([
    { maxEntries: 0, maxBytes: 0, ttlSeconds: 0, resident: 8, afterIdle: 8 },
    { maxEntries: 3, maxBytes: 0, ttlSeconds: 0, resident: 3, afterIdle: 3 },
    { maxEntries: 0, maxBytes: 5 * w, ttlSeconds: 0, resident: 5, afterIdle: 5 },
    { maxEntries: 0, maxBytes: 0, ttlSeconds: 1, resident: 8, afterIdle: 0 },
    { maxEntries: 3, maxBytes: 5 * w, ttlSeconds: 0, resident: 3, afterIdle: 3 },
    { maxEntries: 3, maxBytes: 0, ttlSeconds: 1, resident: 3, afterIdle: 0 },
    { maxEntries: 0, maxBytes: 5 * w, ttlSeconds: 1, resident: 5, afterIdle: 0 },
    { maxEntries: 3, maxBytes: 5 * w, ttlSeconds: 1, resident: 3, afterIdle: 0 },
  ])(
    'entries $maxEntries, bytes $maxBytes, ttl $ttlSeconds (0 = off): $resident resident, $afterIdle after a day idle',
    async (c) => {
      for (const admission of [true, false]) {
        const { bag, clock, ids } = setup({
          versions: 8,
          admission,
          settings: { maxEntries: c.maxEntries, maxBytes: c.maxBytes, ttlSeconds: c.ttlSeconds },
        });
        for (const id of ids) await bag.get(id);
        expect(bag.stats().entries, `admission ${admission}`).toBe(c.resident);
        clock.advanceSeconds(86_400);
        bag.purgeExpired();
        expect(bag.stats().entries, `admission ${admission}`).toBe(c.afterIdle);
      }
    },
  );

  it.each(['maxEntries', 'maxBytes', 'ttlSeconds', 'revalidateSeconds'] as const)(
    'refuses a negative %s naming the option and the range',
    (option) => {
      expect(() => setup({ settings: { [option]: -1 } })).toThrowError(
        new RegExp(`settings\\.${option} must be a whole number from 0 to \\d+; got -1`),
      );
    },
  );

  it('evicts with reason bytes once the weight would pass the byte cap, and the weight never exceeds it', async () => {
    const w = entryWeight(1000);
    const maxBytes = 10 * w + w / 2;
    for (const admission of [true, false]) {
      const { bag } = setup({
        versions: 30,
        admission,
        serializedBytes: 1000,
        settings: { maxBytes },
      });
      for (let i = 1; i <= 30; i++) {
        await bag.get(`v${i}`);
        expect(bag.stats().weight_bytes).toBeLessThanOrEqual(maxBytes);
      }
      expect(bag.stats()).toMatchObject({
        entries: 10,
        weight_bytes: 10 * w,
        evictions: { bytes: 20, capacity: 0 },
      });
    }
  });

  it('returns but never admits a version heavier than the whole byte cap', async () => {
    const { bag } = setup({
      serializedBytes: 10_000,
      settings: { maxBytes: entryWeight(10_000) - 1 },
    });
    expect((await bag.get('v1'))?.versionId).toBe('v1');
    expect(bag.stats()).toMatchObject({ entries: 0, weight_bytes: 0, oversize_rejections: 1 });
  });
});

describe('DagBag revalidation', () => {
  const settings = { revalidateSeconds: 30 };

  it('makes no loader call inside the window even if the hash changed', async () => {
    const { bag, clock, loader } = setup({ settings });
    const first = await bag.get('v1');
    loader.replace('v1', makeDagDocument({ taskCount: 3, seed: 9, dagId: 'dag_1' }));
    clock.advanceSeconds(29);
    expect(await bag.get('v1')).toBe(first);
    expect(loader.calls).toMatchObject({ loadVersions: 1, readHash: 0 });
  });

  it('after the window, the same hash costs one hash read and no reload', async () => {
    const { bag, clock, loader } = setup({ settings });
    const first = await bag.get('v1');
    clock.advanceSeconds(31);
    expect(bag.getIfCached('v1')).toBeUndefined();
    expect(await bag.get('v1')).toBe(first);
    expect(await bag.get('v1')).toBe(first);
    expect(loader.calls).toMatchObject({ loadVersions: 1, readHash: 1 });
    expect(bag.stats()).toMatchObject({ hits: 2, hash_reads: 1 });
  });

  it('after the window, a changed hash reloads the version', async () => {
    const { bag, clock, loader } = setup({ settings });
    const first = (await bag.get('v1'))!;
    loader.replace('v1', makeDagDocument({ taskCount: 3, seed: 9, dagId: 'dag_1' }));
    clock.advanceSeconds(31);
    const second = (await bag.get('v1'))!;
    expect(second.dagHash).not.toBe(first.dagHash);
    expect(second.dag.tasks.size).toBe(3);
    expect(loader.calls).toMatchObject({ loadVersions: 2, readHash: 1 });
    expect(bag.getIfCached('v1')).toBe(second);
  });

  it('after the window, a vanished row gives null and removes the entry', async () => {
    const { bag, clock, loader } = setup({ settings });
    await bag.get('v1');
    loader.delete('v1');
    clock.advanceSeconds(31);
    expect(await bag.get('v1')).toBeNull();
    expect(bag.has('v1')).toBe(false);
    expect(bag.stats()).toMatchObject({
      entries: 0,
      evictions: { invalidated: 1 },
      misses: { not_found: 1 },
    });
  });

  it('shares one hash read among concurrent lookups of a due entry', async () => {
    const { bag, clock, loader } = setup({ settings });
    await bag.get('v1');
    clock.advanceSeconds(31);
    await Promise.all(Array.from({ length: 10 }, () => bag.get('v1')));
    expect(loader.calls.readHash).toBe(1);
  });
});

// Each replays tens of thousands of lookups: seconds of CPU, more on a loaded CI machine.
describe('DagBag policies', { timeout: 60_000 }, () => {
  const ids = Array.from({ length: 600 }, (_, i) => `v${i + 1}`);

  it('scheduler, cap 512, 600 active versions swept round-robin: keeps hitting on what is resident; plain LRU hits nothing', async () => {
    const settings = { maxEntries: 512, ttlSeconds: 10_800 };
    const ours = setup({ role: 'scheduler', versions: 600, settings });
    const lru = setup({ role: 'scheduler', versions: 600, settings, admission: false });
    const oursHits = await sweep(ours.bag, ids, 20);
    const lruHits = await sweep(lru.bag, ids, 20);
    const oursRatio = oursHits.slice(1).reduce((a, b) => a + b, 0) / (19 * 600);
    const lruRatio = lruHits.slice(1).reduce((a, b) => a + b, 0) / (19 * 600);
    expect(oursRatio).toBeGreaterThanOrEqual((0.8 * 512) / 600);
    expect(lruRatio).toBeLessThan(0.01);
    expect(ours.bag.stats().entries).toBe(512);
  });

  it('reconcile evicts exactly the resident versions no longer in use, with reason inactive', async () => {
    const { bag, loader } = setup({
      role: 'scheduler',
      versions: 600,
      settings: { maxEntries: 512 },
    });
    await sweep(bag, ids, 2);
    const resident = ids.filter((id) => bag.has(id));
    const retired = new Set(resident.slice(0, 100));
    loader.active = new Set(ids.filter((id) => !retired.has(id)));
    expect(await bag.reconcile()).toEqual({ evicted: 100 });
    expect(ids.filter((id) => bag.has(id))).toEqual(resident.filter((id) => !retired.has(id)));
    expect(bag.stats().evictions.inactive).toBe(100);
  });

  it('a crawl through history does not flush the hot set (plain LRU loses it)', async () => {
    const hot = Array.from({ length: 50 }, (_, i) => `v${i + 1}`);
    const history = Array.from({ length: 1000 }, (_, i) => `v${i + 51}`);
    const keptHot: number[] = [];
    for (const admission of [true, false]) {
      const { bag } = setup({ versions: 1050, admission, settings: { maxEntries: 100 } });
      for (let round = 0; round < 5; round++) for (const id of hot) await bag.get(id);
      for (const id of history) await bag.get(id);
      keptHot.push(hot.filter((id) => bag.has(id)).length);
    }
    expect(keptHot).toEqual([50, 0]);
  });

  it("a newcomer displaces the weakest of main's least recent entries, not a popular one asked for long ago", async () => {
    const { bag } = setup({ versions: 102, settings: { maxEntries: 100 }, adaptiveWindow: false });
    // v1 is popular but then not asked for while 99 others arrive once each: it is main's least
    // recent entry.
    for (let i = 0; i < 10; i++) await bag.get('v1');
    for (let i = 2; i <= 100; i++) await bag.get(`v${i}`);
    // A newcomer asked for four times, then another newcomer pushes it out of the window.
    for (let i = 0; i < 4; i++) await bag.get('v101');
    await bag.get('v102');
    // It competed with a once-seen entry and won; the popular v1 stayed.
    expect([bag.has('v1'), bag.has('v101')]).toEqual([true, true]);
  });

  it("the victim is main's weakest entry even when a hit moved it far from the least recent end", async () => {
    const { bag } = setup({ versions: 212, settings: { maxEntries: 200 }, adaptiveWindow: false });
    // 200 entries fill the cache (v200, the last, in the one-entry window); v2 to v199 are asked
    // for five times more. v1 is asked for once more, last: main's weakest entry, but its most
    // recent one, 198 places from its least recent.
    for (let i = 1; i <= 200; i++) await bag.get(`v${i}`);
    for (let round = 0; round < 5; round++) for (let i = 2; i <= 199; i++) await bag.get(`v${i}`);
    await bag.get('v1');
    // Ten newcomers seen once each: each is refused, and each eviction examines more of main.
    for (let i = 201; i <= 210; i++) await bag.get(`v${i}`);
    // A newcomer asked for six times, then another newcomer pushes it out of the window: it is
    // stronger than v1, not than the popular entries at main's least recent end.
    for (let i = 0; i < 6; i++) await bag.get('v211');
    await bag.get('v212');
    expect([bag.has('v1'), bag.has('v211')]).toEqual([false, true]);
    expect(bag.stats().entries).toBe(200);
  });

  it('keeps to its cap while entries leave main by expiry, invalidation and clear', async () => {
    const { bag, clock } = setup({ versions: 400, settings: { maxEntries: 50, ttlSeconds: 2 } });
    const random = seededRandom(9);
    for (let i = 0; i < 6000; i++) {
      clock.advance(5 + Math.floor(random() * 10));
      const id = `v${1 + Math.floor(400 * Math.pow(random(), 3))}`;
      await bag.get(id);
      if (i % 7 === 0) bag.invalidate(`v${1 + Math.floor(random() * 60)}`);
      if (i % 1500 === 1499) bag.clear();
      expect(bag.stats().entries).toBeLessThanOrEqual(50);
    }
    const { evictions } = bag.stats();
    expect([evictions.ttl, evictions.invalidated, evictions.capacity].every((n) => n > 0)).toBe(
      true,
    );
  });

  it('api: a drifting hot set grows the admission window; steady popularity keeps it at one entry', async () => {
    const settings = { maxEntries: 200 };
    const drifting = setup({ versions: 4000, settings });
    const random = seededRandom(3);
    // A hot set of 150 ids that gains 15 new ids (and loses the oldest) every 500 lookups.
    for (let i = 0; i < 40_000; i++) {
      const base = 15 * Math.floor(i / 500);
      await drifting.bag.get(`v${1 + base + Math.floor(random() * 150)}`);
    }
    expect(drifting.bag.stats().window_percent).toBeGreaterThan(20);

    const steady = setup({ versions: 4000, settings });
    // The same number of lookups over a fixed popularity: 150 hot ids, one lookup in four cold.
    for (let i = 0; i < 40_000; i++) {
      const id =
        random() < 0.75 ? 1 + Math.floor(random() * 150) : 151 + Math.floor(random() * 3800);
      await steady.bag.get(`v${id}`);
    }
    expect(steady.bag.stats().window_percent).toBe(0);
  });

  it('api: when popularity moves to new ids, the sketch forgets early and the new ids take the cache', async () => {
    const { bag } = setup({ versions: 250, settings: { maxEntries: 100 } });
    // 80 ids asked for 40 times each (all resident), then a loop over 150 other ids: every one
    // misses again and again while the old ids' counts would keep them for the rest of the trace.
    for (let round = 0; round < 40; round++) for (let i = 1; i <= 80; i++) await bag.get(`v${i}`);
    let hits = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 101; i <= 250; i++) {
        const id = `v${i}`;
        if (bag.getIfCached(id) !== undefined) {
          if (round >= 30) hits++;
        } else await bag.get(id);
      }
    }
    // Of the last 10 rounds' 1500 lookups: about 100 per round once the old ids are gone (with
    // the sketch's full history kept, 20 per round: the 20 places the old ids leave).
    expect(hits).toBeGreaterThan(700);
  });

  it('scheduler: the window is one entry (its sweeps gain nothing from a larger one)', async () => {
    const { bag } = setup({ role: 'scheduler', settings: { maxEntries: 512 } });
    expect(bag.stats().window_percent).toBe(0);
    const fixed = setup({
      role: 'scheduler',
      settings: { maxEntries: 512 },
      adaptiveWindow: false,
    });
    expect(fixed.bag.stats().window_percent).toBe(0.3);
  });
});
