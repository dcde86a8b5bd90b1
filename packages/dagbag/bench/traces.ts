/** Access traces (arrays of version numbers) and Belady's offline optimum for the benchmark. */

/** The scheduler's loop: every active version once per round, in the same order each round. */
export function roundRobin(workingSet: number, rounds: number): Uint32Array {
  const trace = new Uint32Array(workingSet * rounds);
  for (let i = 0; i < trace.length; i++) trace[i] = i % workingSet;
  return trace;
}

function shuffle(items: Uint32Array, random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/**
 * Zipf(s) sampler over n items; popularity ranks are shuffled so they do not follow id order.
 * `reshuffle()` deals the ranks out anew: yesterday's popular ids become ordinary.
 */
function zipfSampler(
  n: number,
  s: number,
  random: () => number,
): (() => number) & { reshuffle(): void } {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = sum += 1 / Math.pow(k, s);
  for (let k = 0; k < n; k++) cdf[k]! /= sum;
  const rankToItem = Uint32Array.from({ length: n }, (_, i) => i);
  shuffle(rankToItem, random);
  const next = () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return rankToItem[lo]!;
  };
  return Object.assign(next, { reshuffle: () => shuffle(rankToItem, random) });
}

export function zipfTrace(n: number, s: number, length: number, random: () => number): Uint32Array {
  const next = zipfSampler(n, s, random);
  const trace = new Uint32Array(length);
  for (let i = 0; i < length; i++) trace[i] = next();
  return trace;
}

/**
 * API browsing (Zipf) with a periodic crawler: each cycle is `browse` lookups of browsing, then a
 * crawl of every version in id order interleaved one to one with browsing.
 */
export function zipfWithCrawl(
  n: number,
  s: number,
  options: { browse: number; cycles: number },
  random: () => number,
): Uint32Array {
  const next = zipfSampler(n, s, random);
  const out: number[] = [];
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    for (let i = 0; i < options.browse; i++) out.push(next());
    for (let v = 0; v < n; v++) {
      out.push(v);
      out.push(next());
    }
  }
  return Uint32Array.from(out);
}

/** Whether lookup `i` of a `zipfWithCrawl(n, s, { browse })` trace is the crawler's (one home). */
export function isCrawlLookup(i: number, n: number, browse: number): boolean {
  const inCycle = i % (browse + 2 * n);
  return inCycle >= browse && (inCycle - browse) % 2 === 0;
}

/** Optional outputs and inputs of the reference policies below. */
export interface ReferenceOptions {
  /** Set to 1 at each lookup that hits (from `measureFrom` on). */
  hits?: Uint8Array;
  /** perfectLfu only: lookups for which this says false do not count (default: all count). */
  counted?: (i: number) => boolean;
}

/** Zipf whose popular ids are dealt out anew every `period` lookups (popularity that moves). */
export function reshuffledZipf(
  n: number,
  s: number,
  options: { length: number; period: number },
  random: () => number,
): Uint32Array {
  const next = zipfSampler(n, s, random);
  const trace = new Uint32Array(options.length);
  for (let i = 0; i < trace.length; i++) {
    if (i > 0 && i % options.period === 0) next.reshuffle();
    trace[i] = next();
  }
  return trace;
}

/** A loop over `before` ids for `roundsBefore` rounds, then over `after` (other) ids. */
export function loopChangingSize(
  before: number,
  roundsBefore: number,
  after: number,
  roundsAfter: number,
): Uint32Array {
  const trace = new Uint32Array(before * roundsBefore + after * roundsAfter);
  let i = 0;
  for (let r = 0; r < roundsBefore; r++) for (let k = 0; k < before; k++) trace[i++] = k;
  for (let r = 0; r < roundsAfter; r++) for (let k = 0; k < after; k++) trace[i++] = 1_000_000 + k;
  return trace;
}

/**
 * First recency-friendly: uniform draws from a hot set of `hot` ids that drifts by `drift` new ids
 * every `phase` lookups (the oldest leave it); then frequency-friendly: Zipf(s) over `n` other ids.
 */
export function recencyThenFrequency(
  options: { hot: number; drift: number; phase: number; recencyLength: number },
  zipf: { n: number; s: number; length: number },
  random: () => number,
): Uint32Array {
  const trace = new Uint32Array(options.recencyLength + zipf.length);
  let base = 0;
  for (let i = 0; i < options.recencyLength; i++) {
    if (i > 0 && i % options.phase === 0) base += options.drift;
    trace[i] = base + Math.floor(random() * options.hot);
  }
  const next = zipfSampler(zipf.n, zipf.s, random);
  for (let i = 0; i < zipf.length; i++) trace[options.recencyLength + i] = 10_000_000 + next();
  return trace;
}

/**
 * The frequency oracle: the cache holds, from the start, the `capacity` ids requested most often
 * over the whole trace and never changes. The best any policy can do on independent draws from a
 * fixed popularity; Belady also knows the order of the draws, which no online policy can.
 */
export function frequencyOracle(
  trace: Uint32Array,
  capacity: number,
  measureFrom: number,
  options: ReferenceOptions = {},
): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < trace.length; i++) counts.set(trace[i]!, (counts.get(trace[i]!) ?? 0) + 1);
  const held = new Set(
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, capacity)
      .map(([id]) => id),
  );
  let hits = 0;
  for (let i = measureFrom; i < trace.length; i++)
    if (held.has(trace[i]!)) {
      hits++;
      if (options.hits) options.hits[i] = 1;
    }
  return hits / (trace.length - measureFrom);
}

/**
 * The ceiling of an online frequency policy ("perfect LFU"): the cache holds the `capacity` ids
 * with the highest exact counts of the lookups so far (the whole past, never aged). A newcomer is
 * admitted only if its count, this lookup included, exceeds the lowest count held, and then it
 * replaces an id holding that lowest count (any resident may go, not only a sampled one); ties
 * keep the incumbent. No policy that ranks ids by their past requests can beat it on independent
 * draws from a fixed popularity: it has every count exactly, where a sketch estimates and ages
 * them. Unlike the frequency oracle it does not know the future, so on such traces it is the
 * fair target; where popularity moves it holds on to the past and is no bound at all.
 * Returns the hit ratio over accesses from `measureFrom` on.
 */
export function perfectLfu(
  trace: Uint32Array,
  capacity: number,
  measureFrom: number,
  options: ReferenceOptions = {},
): number {
  const counted = options.counted ?? (() => true);
  const counts = new Map<number, number>();
  /** Resident ids by their count; each set keeps the order in which ids reached that count. */
  const byCount = new Map<number, Set<number>>();
  const resident = new Set<number>();
  /** The lowest count of a resident id (meaningful while any is resident). */
  let lowest = 0;
  const place = (id: number, count: number) => {
    let ids = byCount.get(count);
    if (ids === undefined) byCount.set(count, (ids = new Set()));
    ids.add(id);
  };
  const unplace = (id: number, count: number) => {
    const ids = byCount.get(count)!;
    ids.delete(id);
    if (ids.size === 0) byCount.delete(count);
  };
  /** Moves `lowest` up to the next count some resident holds (there is one: see callers). */
  const raiseLowest = () => {
    while (!byCount.has(lowest)) lowest++;
  };
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const id = trace[i]!;
    const before = counts.get(id) ?? 0;
    const count = counted(i) ? before + 1 : before;
    counts.set(id, count);
    if (resident.has(id)) {
      if (i >= measureFrom) {
        hits++;
        if (options.hits) options.hits[i] = 1;
      }
      if (count === before) continue;
      unplace(id, before);
      place(id, count);
      if (before === lowest) raiseLowest();
      continue;
    }
    if (resident.size < capacity) {
      if (resident.size === 0 || count < lowest) lowest = count;
      resident.add(id);
      place(id, count);
      continue;
    }
    if (count <= lowest) continue;
    const victim = byCount.get(lowest)!.values().next().value!;
    unplace(victim, lowest);
    resident.delete(victim);
    resident.add(id);
    place(id, count);
    raiseLowest();
  }
  return hits / (trace.length - measureFrom);
}

/**
 * Belady's MIN with bypass: on a miss with a full cache, evict the resident item used furthest in
 * the future, or do not cache the newcomer if its own next use is further still. Exactly optimal
 * for unit sizes. Returns the hit ratio over accesses from `measureFrom` on.
 */
export function belady(trace: Uint32Array, capacity: number, measureFrom: number): number {
  const NEVER = Number.MAX_SAFE_INTEGER;
  const nextUse = new Float64Array(trace.length);
  const seen = new Map<number, number>();
  for (let i = trace.length - 1; i >= 0; i--) {
    nextUse[i] = seen.get(trace[i]!) ?? NEVER;
    seen.set(trace[i]!, i);
  }
  // Max-heap of [next use, item] with lazy deletion: an item's current next use is in `resident`.
  const resident = new Map<number, number>();
  const heapKeys: number[] = [];
  const heapItems: number[] = [];
  const push = (key: number, item: number) => {
    let i = heapKeys.length;
    heapKeys.push(key);
    heapItems.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapKeys[parent]! >= heapKeys[i]!) break;
      [heapKeys[parent], heapKeys[i]] = [heapKeys[i]!, heapKeys[parent]!];
      [heapItems[parent], heapItems[i]] = [heapItems[i]!, heapItems[parent]!];
      i = parent;
    }
  };
  const pop = () => {
    const last = heapKeys.length - 1;
    [heapKeys[0], heapKeys[last]] = [heapKeys[last]!, heapKeys[0]!];
    [heapItems[0], heapItems[last]] = [heapItems[last]!, heapItems[0]!];
    heapKeys.pop();
    heapItems.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let largest = i;
      if (l < heapKeys.length && heapKeys[l]! > heapKeys[largest]!) largest = l;
      if (r < heapKeys.length && heapKeys[r]! > heapKeys[largest]!) largest = r;
      if (largest === i) break;
      [heapKeys[largest], heapKeys[i]] = [heapKeys[i]!, heapKeys[largest]!];
      [heapItems[largest], heapItems[i]] = [heapItems[i]!, heapItems[largest]!];
      i = largest;
    }
  };
  /** The valid top of the heap (stale records dropped). */
  const top = (): [number, number] | undefined => {
    while (heapKeys.length > 0) {
      const key = heapKeys[0]!;
      const item = heapItems[0]!;
      if (resident.get(item) === key) return [key, item];
      pop();
    }
    return undefined;
  };
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const item = trace[i]!;
    const next = nextUse[i]!;
    if (resident.has(item)) {
      if (i >= measureFrom) hits++;
      resident.set(item, next);
      push(next, item);
      continue;
    }
    if (resident.size < capacity) {
      resident.set(item, next);
      push(next, item);
      continue;
    }
    const furthest = top()!;
    if (next >= furthest[0]) continue; // bypass: the newcomer is needed last
    pop();
    resident.delete(furthest[1]);
    resident.set(item, next);
    push(next, item);
  }
  return hits / (trace.length - measureFrom);
}
