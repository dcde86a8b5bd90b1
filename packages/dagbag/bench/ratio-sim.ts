/**
 * The hit-ratio traces of bench/index.ts alone, for tuning the policy in seconds per trace instead
 * of a whole `pnpm bench`: the same traces and settings, replayed through DagBag, against the
 * frequency oracle and the online ceiling (perfect LFU: exact counts of the lookups so far), no
 * Belady, no timing.
 *
 *   node --import tsx bench/ratio-sim.ts [zipf crawl aloop drift reshuf s12 s2 sloop]
 *     [--policies=adaptive,fixed,lru]
 *
 * With `crawl`, a second line splits the hit ratios into the browsing's and the crawler's
 * lookups, and adds perfect LFU counting the browsing only: what an online policy with exact
 * counts could reach if it also knew which lookups were the crawler's.
 */
import { defaultCacheSettings, type DagCacheSettings } from '../src/settings.ts';
import { seededRandom } from '../src/testing.ts';
import { entryWeight } from '../src/weight.ts';
import {
  frequencyOracle,
  isCrawlLookup,
  loopChangingSize,
  perfectLfu,
  recencyThenFrequency,
  reshuffledZipf,
  roundRobin,
  zipfTrace,
  zipfWithCrawl,
} from './traces.ts';
import { replay, type Policy } from './synthetic-loader.ts';

const apiSettings: DagCacheSettings = { ...defaultCacheSettings('api'), ttlSeconds: 0 };
const cap = 1000;
const schedulerSettings: DagCacheSettings = {
  ...defaultCacheSettings('scheduler'),
  maxEntries: 0,
  // Exactly `cap` versions of 32 KiB.
  maxBytes: cap * entryWeight(32 * 1024),
};
const V = 70_000;
const CRAWL_BROWSE = 250_000;
type T = [string, () => Uint32Array, number, 'api' | 'scheduler'];
const traces: T[] = [
  ['zipf', () => zipfTrace(V, 0.9, 1_000_000, seededRandom(42)), 300_000, 'api'],
  [
    'crawl',
    () => zipfWithCrawl(V, 0.9, { browse: CRAWL_BROWSE, cycles: 3 }, seededRandom(7)),
    250_000,
    'api',
  ],
  ['aloop', () => loopChangingSize(3000, 40, 6000, 20), 3000, 'api'],
  [
    'drift',
    () =>
      recencyThenFrequency(
        { hot: 3000, drift: 300, phase: 5000, recencyLength: 500_000 },
        { n: V, s: 0.9, length: 500_000 },
        seededRandom(11),
      ),
    50_000,
    'api',
  ],
  [
    'reshuf',
    () => reshuffledZipf(V, 0.9, { length: 1_000_000, period: 200_000 }, seededRandom(23)),
    100_000,
    'api',
  ],
  ['s12', () => roundRobin(1200, 30), 1200, 'scheduler'],
  ['s2', () => roundRobin(2000, 30), 2000, 'scheduler'],
  ['sloop', () => loopChangingSize(800, 40, 1500, 20), 800, 'scheduler'],
];
const args = process.argv.slice(2);

const policies = (
  args.find((a) => a.startsWith('--policies='))?.slice(11) ?? 'adaptive,fixed'
).split(',') as Policy[];
const wanted = args.filter((a) => !a.startsWith('--'));
for (const [name, make, from, role] of traces) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const data = make();
  const out: string[] = [];
  const t0 = performance.now();
  const capacity = role === 'api' ? 4096 : cap;
  const oracle = frequencyOracle(data, capacity, from);
  const perfect = perfectLfu(data, capacity, from);
  for (const p of policies) {
    const r = await replay(
      data,
      from,
      role,
      role === 'api' ? apiSettings : schedulerSettings,
      p,
      role === 'api' ? 16 * 1024 : 32 * 1024,
    );
    out.push(
      `${p} ${(100 * r).toFixed(2)}% (/oracle ${(r / oracle).toFixed(4)}, /perfect ${(r / perfect).toFixed(4)})`,
    );
  }
  const seconds = ((performance.now() - t0) / 1000).toFixed(0);
  console.log(
    `${name}: ${out.join(' | ')} | oracle ${(100 * oracle).toFixed(2)}% | perfect LFU ${(100 * perfect).toFixed(2)}% (/oracle ${(perfect / oracle).toFixed(4)})  [${seconds} s]`,
  );
  if (name === 'crawl') console.log(await crawlSplit(data, from, oracle));
}

/** The crawl trace's hit ratios split into browsing and crawler lookups (see the header). */
async function crawlSplit(data: Uint32Array, from: number, oracle: number): Promise<string> {
  const isCrawl = (i: number) => isCrawlLookup(i, V, CRAWL_BROWSE);
  const split = (name: string, ratio: number, hits: Uint8Array) => {
    const tally = { browse: [0, 0], crawl: [0, 0] };
    for (let i = from; i < data.length; i++) {
      const part = isCrawl(i) ? tally.crawl : tally.browse;
      part[0]! += hits[i]!;
      part[1]!++;
    }
    const pct = ([hit, all]: number[]) => `${((100 * hit!) / all!).toFixed(2)}%`;
    return `${name} ${(100 * ratio).toFixed(2)}% (/oracle ${(ratio / oracle).toFixed(4)}: browsing ${pct(tally.browse)}, crawler ${pct(tally.crawl)}, ${tally.crawl[0]} crawler hits)`;
  };
  const lines: string[] = [];
  const run = async (name: string, measure: (hits: Uint8Array) => number | Promise<number>) => {
    const hits = new Uint8Array(data.length);
    lines.push(split(name, await measure(hits), hits));
  };
  await run('oracle', (hits) => frequencyOracle(data, 4096, from, { hits }));
  await run('perfect LFU', (hits) => perfectLfu(data, 4096, from, { hits }));
  await run('perfect LFU counting the browsing only', (hits) =>
    perfectLfu(data, 4096, from, { hits, counted: (i) => !isCrawl(i) }),
  );
  for (const p of policies)
    await run(p, (hits) => replay(data, from, 'api', apiSettings, p, 16 * 1024, hits));
  return `crawl split: ${lines.join(' | ')}`;
}
