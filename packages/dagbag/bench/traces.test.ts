import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/testing.ts';
import { frequencyOracle, isCrawlLookup, perfectLfu, zipfTrace, zipfWithCrawl } from './traces.ts';

/**
 * Perfect LFU the slow way: on every miss with a full cache, scan every resident id for the lowest
 * count (of those, the one that reached it first).
 */
function slowPerfectLfu(trace: Uint32Array, capacity: number, measureFrom: number): number {
  const counts = new Map<number, number>();
  const reachedAt = new Map<number, number>();
  let hits = 0;
  trace.forEach((id, i) => {
    const count = (counts.get(id) ?? 0) + 1;
    counts.set(id, count);
    if (reachedAt.has(id)) {
      if (i >= measureFrom) hits++;
      reachedAt.set(id, i);
      return;
    }
    if (reachedAt.size < capacity) {
      reachedAt.set(id, i);
      return;
    }
    let victim = -1;
    for (const [resident, at] of reachedAt) {
      const better =
        victim === -1 ||
        counts.get(resident)! < counts.get(victim)! ||
        (counts.get(resident) === counts.get(victim) && at < reachedAt.get(victim)!);
      if (better) victim = resident;
    }
    if (count <= counts.get(victim)!) return;
    reachedAt.delete(victim);
    reachedAt.set(id, i);
  });
  return hits / (trace.length - measureFrom);
}

describe('perfectLfu', () => {
  it('holds the ids with the highest counts so far, a tie keeping the incumbent', () => {
    // Capacity 2. 3's first sighting ties with 2 (one each) and stays out; its second evicts 2;
    // 2's second sighting then only ties with 3 and 1 (two each) and stays out.
    const trace = Uint32Array.from([1, 1, 2, 3, 3, 2, 3, 1]);
    const hitsAt = [1, 6, 7];
    expect(perfectLfu(trace, 2, 0)).toBe(hitsAt.length / trace.length);
    expect(perfectLfu(trace, 2, 5)).toBe(2 / 3);
  });

  it('agrees with a scan of every resident on random Zipf traces', () => {
    for (const [seed, capacity] of [
      [1, 4],
      [2, 16],
      [3, 50],
    ] as const) {
      const trace = zipfTrace(300, 0.8, 5000, seededRandom(seed));
      expect(perfectLfu(trace, capacity, 1000)).toBe(slowPerfectLfu(trace, capacity, 1000));
    }
  });

  it('marks the hits it counts, and lets lookups that do not count leave the ranking alone', () => {
    // Capacity 1. Counting all, 2's third sighting outnumbers 1 (3 to 2) and evicts it, so the
    // last 1 misses; with 2's lookups not counted, 2 never passes 1 and the last 1 hits.
    const trace = Uint32Array.from([1, 1, 2, 2, 2, 1]);
    const hits = new Uint8Array(trace.length);
    expect(perfectLfu(trace, 1, 0, { hits })).toBe(1 / 6);
    expect([...hits]).toEqual([0, 1, 0, 0, 0, 0]);
    expect(perfectLfu(trace, 1, 0, { counted: (i) => trace[i] === 1 })).toBe(2 / 6);
  });

  it('stays below the frequency oracle on draws from a fixed popularity', () => {
    const trace = zipfTrace(2000, 0.9, 50_000, seededRandom(5));
    const online = perfectLfu(trace, 100, 10_000);
    expect(online).toBeLessThan(frequencyOracle(trace, 100, 10_000));
    expect(online).toBeGreaterThan(0.9 * frequencyOracle(trace, 100, 10_000));
  });
});

describe('isCrawlLookup', () => {
  it("marks exactly the crawler's lookups of a browsing + crawl trace", () => {
    const [n, browse] = [7, 5];
    const trace = zipfWithCrawl(n, 0.9, { browse, cycles: 2 }, seededRandom(3));
    const crawled = [...trace].filter((_, i) => isCrawlLookup(i, n, browse));
    expect(crawled).toEqual([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6]);
    expect(trace.length - crawled.length).toBe(2 * (browse + n));
  });
});
