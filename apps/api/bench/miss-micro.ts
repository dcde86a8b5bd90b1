/**
 * A miss's work in the API process after the row arrives, phase by phase, on the documents of
 * `pnpm bench` (the same generator, seeds and 20-60 KB sizes), as PostgreSQL sends them (jsonb's
 * text form: keys ordered by length, `", "` and `": "` separators):
 *
 *   node --expose-gc --import tsx bench/miss-micro.ts
 *
 * CPU time of this process per document (median of rounds, garbage collection included as a miss
 * pays it). "Miss" is entryFromRow with the API's render for a dag_hash never validated before:
 * what the structure endpoint does for each version of the all-miss crawl after the fetch.
 */
import { renderStructure } from '../src/serialize.ts';
import {
  buildDag,
  dagDocumentSchema,
  entryFromRow,
  type DagVersionEntry,
  type DagVersionRow,
} from '@dagbag/dagbag';
import * as dagbag from '@dagbag/dagbag';
import { makeDagDocument, seededRandom } from '@dagbag/dagbag/testing';

const DOCUMENTS = Number(process.env.BENCH_MICRO_DOCUMENTS ?? 200);
const ROUNDS = Number(process.env.BENCH_MICRO_ROUNDS ?? 9);

/** jsonb's text output: object keys shortest first (then bytewise), `", "` and `": "`. */
export function jsonbText(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  const keys = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((key) => `${JSON.stringify(key)}: ${jsonbText((value as Record<string, unknown>)[key])}`).join(', ')}}`;
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median over ROUNDS passes of the mean CPU µs per call of `f` over the `count` documents. */
function time(count: number, f: (i: number) => unknown): number {
  for (let i = 0; i < count; i++) f(i); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = cpuMicros();
    for (let i = 0; i < count; i++) f(i);
    samples.push((cpuMicros() - start) / count);
  }
  return median(samples);
}

const random = seededRandom(1);
const rows: DagVersionRow[] = Array.from({ length: DOCUMENTS }, (_, k) => {
  const document = makeDagDocument({
    targetBytes: 20_000 + Math.floor(random() * 40_000),
    seed: 100_000 + k,
    dagId: `bench_template_${k}`,
  });
  return {
    versionId: `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`,
    dagId: `bench_${k % 100}`,
    versionNumber: k + 1,
    dagHash: `hash-${k}`,
    createdAt: new Date(0),
    dataText: jsonbText(document),
  };
});
const bytes = rows.reduce((sum, row) => sum + Buffer.byteLength(row.dataText), 0) / rows.length;
const parsed = rows.map((row) => JSON.parse(row.dataText) as unknown);
const entries: DagVersionEntry[] = rows.map((row) => entryFromRow(row).entry);
let round = 0;
/** A validated set that knows no hash: every load validates, as every version of the crawl. */
const fresh = { has: () => false, add: () => undefined };
const known = { has: () => true, add: () => undefined };

const phases: [string, number][] = [
  ['JSON.parse of the row', time(rows.length, (i) => JSON.parse(rows[i]!.dataText))],
  [
    'validation (dagDocumentSchema.safeParse)',
    time(rows.length, (i) => dagDocumentSchema.safeParse(parsed[i])),
  ],
  // Absent before issue 13's one-pass check (the bench runs on older checkouts too).
  ...(('isValidDocument' in dagbag
    ? [
        [
          'validation (isValidDocument, one pass)',
          time(rows.length, (i) => dagbag.isValidDocument(parsed[i])),
        ],
      ]
    : []) as [string, number][]),
  [
    'build the DAG (buildDag on a fresh parse, minus the parse)',
    time(rows.length, (i) => buildDag(JSON.parse(rows[i]!.dataText))) -
      time(rows.length, (i) => JSON.parse(rows[i]!.dataText)),
  ],
  [
    'render (structure JSON bytes + sha-256 ETag)',
    time(rows.length, (i) => renderStructure(entries[i]!)),
  ],
  [
    'miss: entryFromRow with render, dag_hash new',
    time(rows.length, (i) => {
      round++;
      return entryFromRow(rows[i]!, { validated: fresh, render: renderStructure });
    }),
  ],
  [
    'reload: entryFromRow with render, dag_hash validated before',
    time(rows.length, (i) => entryFromRow(rows[i]!, { validated: known, render: renderStructure })),
  ],
];

process.stdout.write(
  `${rows.length} documents of the bench (average ${(bytes / 1000).toFixed(1)} KB as jsonb text), ${ROUNDS} rounds\n\n`,
);
process.stdout.write('| phase | CPU µs per document |\n|---|---:|\n');
for (const [name, us] of phases) process.stdout.write(`| ${name} | ${us.toFixed(1)} |\n`);
void round;
