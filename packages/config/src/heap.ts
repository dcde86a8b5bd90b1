import { setFlagsFromString } from 'node:v8';
import { integerSetting } from './env.ts';

/**
 * How far V8 may let the heap grow past what its last full collection kept alive before it
 * collects again. V8's own heuristics allow up to 4× the live heap, which is harmless for a
 * process whose live heap is small and disastrous for one that holds a cache of hundreds of MB:
 * garbage that outlives a young-generation collection (on a DAG cache miss, the rows and documents
 * the database client hands over) piles up in the old generation until 3× the cache is garbage,
 * and the process keeps those pages. A fixed headroom ties resident memory to the live heap, which
 * the cache bounds.
 */
export const DEFAULT_GC_HEADROOM_PERCENT = 25;

/** The `<PREFIX>_GC_HEADROOM_PERCENT` setting of a long-running app. */
export function gcHeadroomSetting() {
  return integerSetting({
    default: DEFAULT_GC_HEADROOM_PERCENT,
    min: 0,
    max: 300,
    meaning: "0 = V8's own heuristics, up to 300 %",
    description:
      "how far (in % of the live heap) the JavaScript heap may grow past what the last full garbage collection kept before the next one; bounds resident memory to about live heap × (1 + this). Above 0 it also turns off V8's allocation-site pretenuring, so a cache miss's garbage dies young",
  });
}

/**
 * Applies the headroom to this process's V8 heap (`--heap-growing-percent`, which V8 reads each
 * time it sets the next collection's limit, so it takes effect although the heap already exists).
 * Call it once at start, before the caches fill.
 *
 * With a headroom it also turns off V8's allocation-site pretenuring. Under a crawl of cache misses
 * V8 sees the objects of a DAG being built outlive a young-generation collection (the build is in
 * progress when it runs) and from then on allocates them in the old generation, where the DAGs the
 * cache refuses wait for a full collection, the collection a fixed headroom already runs often.
 * Left in the young generation they die there (apps/api/bench/RESULTS.md, sixth round). 0 leaves
 * both to V8.
 */
export function applyGcHeadroom(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 300) {
    throw new RangeError(
      `applyGcHeadroom: percent must be a whole number from 0 to 300; got ${percent}`,
    );
  }
  if (percent === 0) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  setFlagsFromString('--no-allocation-site-pretenuring');
}
