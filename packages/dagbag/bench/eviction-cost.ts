/**
 * The cost of an evicting miss, interleaved between implementations of this package: each cache
 * (api role, 4096 entries) is first filled by 300k lookups of the Zipf trace, then every round
 * times 10,000 misses on new ids (each loads, enters the window and makes the cache evict once),
 * alternating which implementation goes first; prints the median of 9 rounds per implementation.
 *
 *   node bench/eviction-cost.ts [packageDir ...]   (default: this package; e.g. a copy of it
 *                                                   with the previous src/dagbag.ts beside it)
 */
import { fileURLToPath } from 'node:url';
import type * as DagBagModule from '../src/dagbag.ts';
import type * as SettingsModule from '../src/settings.ts';
import type * as TestingModule from '../src/testing.ts';
import type * as LoaderModule from './synthetic-loader.ts';
import type * as TracesModule from './traces.ts';

const here = fileURLToPath(new URL('..', import.meta.url));
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [here];
const ROUNDS = 9;
const MISSES = 10_000;

const bags: DagBagModule.DagBag[] = [];
for (const dir of dirs) {
  const { DagBag } = (await import(`${dir}/src/dagbag.ts`)) as typeof DagBagModule;
  const { defaultCacheSettings } = (await import(
    `${dir}/src/settings.ts`
  )) as typeof SettingsModule;
  const { ManualClock, seededRandom } = (await import(
    `${dir}/src/testing.ts`
  )) as typeof TestingModule;
  const { syntheticLoader } = (await import(
    `${dir}/bench/synthetic-loader.ts`
  )) as typeof LoaderModule;
  const { zipfTrace } = (await import(`${dir}/bench/traces.ts`)) as typeof TracesModule;
  const bag = new DagBag({
    role: 'api',
    loader: syntheticLoader(16 * 1024),
    clock: new ManualClock(),
    settings: { ...defaultCacheSettings('api'), ttlSeconds: 0 },
  });
  for (const n of zipfTrace(70_000, 0.9, 300_000, seededRandom(42))) {
    const id = `v${n}`;
    if (bag.getIfCached(id) === undefined) await bag.get(id);
  }
  bags.push(bag);
}

let fresh = 0;
const times: number[][] = bags.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  const order = bags.map((_, i) => (round % 2 === 0 ? i : bags.length - 1 - i));
  for (const i of order) {
    const bag = bags[i]!;
    const started = performance.now();
    for (let k = 0; k < MISSES; k++) await bag.get(`new-${fresh++}`);
    times[i]!.push(((performance.now() - started) * 1000) / MISSES);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
dirs.forEach((dir, i) => {
  const stats = bags[i]!.stats();
  console.log(
    `${dir}: ${median(times[i]!).toFixed(1)} µs per evicting miss (median of ${ROUNDS} rounds of ${MISSES}; rounds ${times[i]!.map((t) => t.toFixed(1)).join(' ')}); ${stats.entries} entries, ${stats.evictions.capacity} capacity evictions`,
  );
  bags[i]!.close();
});
