/**
 * Where a miss spends its time after the fetch, and the time per lookup through a DagBag, for
 * documents of about 5, 44 and 300 KB (the API benchmark's average is 44 KB):
 *
 *   node --expose-gc --import tsx bench/miss-profile.ts
 *
 * Phases, each timed alone over the same distinct documents: JSON.parse of the row's text, the
 * validation (the one-pass isValidDocument; before: every miss; after: only the first load of a
 * dag_hash in the process), building the in-memory DAG (task maps, orders, freeze) and the
 * weight. "After" is a version loaded again (evicted before), whose dag_hash the cache has
 * validated already.
 * Times are CPU time of the process (the machine is shared). "Lookup" is `await bag.get(id)` of a
 * cold id through a DagBag whose loader answers from memory: everything a miss costs except the
 * database round trip.
 */
import { dagHash, isValidDocument } from '../src/document.ts';
import { buildDag, deserializeOwnedDag } from '../src/dag.ts';
import { DagBag, type DagVersionLoader, type DagVersionRow } from '../src/dagbag.ts';
import { entryFromRow } from '../src/entry.ts';
import { makeDagDocument } from '../src/testing.ts';

export interface MissProfileRow {
  targetKb: number;
  bytes: number;
  tasks: number;
  parseUs: number;
  validateUs: number;
  hashUs: number;
  buildUs: number;
  weightUs: number;
  beforeUs: number;
  afterUs: number;
  lookupP50Us: number;
  lookupP50BeforeUs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** CPU time of this process in µs: on a shared machine wall time measures the neighbours too. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Median over `rounds` passes of the mean CPU µs per call of `f` over the documents (garbage
 * collection included, as a miss pays it).
 */
function time(
  texts: readonly string[],
  rounds: number,
  f: (text: string, i: number) => unknown,
): number {
  for (let i = 0; i < texts.length; i++) f(texts[i]!, i); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = cpuMicros();
    for (let i = 0; i < texts.length; i++) f(texts[i]!, i);
    samples.push((cpuMicros() - start) / texts.length);
  }
  return median(samples);
}

function memoryLoader(rows: readonly DagVersionRow[], trust: boolean): DagVersionLoader {
  const byId = new Map(rows.map((row) => [row.versionId, row]));
  return {
    async loadVersions(ids) {
      return ids.flatMap((id) => {
        const row = byId.get(id.replace(/#\d+$/, ''));
        // A hash never seen before makes the cache validate, as every miss did before.
        return row ? [{ ...row, versionId: id, dagHash: trust ? row.dagHash : `new-${id}` }] : [];
      });
    },
    async loadVersionsByNumber() {
      return [];
    },
    async resolveVersion() {
      return null;
    },
    async readHash() {
      return null;
    },
    async readHashes() {
      return new Map();
    },
    async activeVersionIds() {
      return [];
    },
    async loadActiveVersions() {
      return [];
    },
  };
}

async function lookupP50(
  rows: readonly DagVersionRow[],
  lookups: number,
  trust: boolean,
): Promise<number> {
  const bag = new DagBag({
    role: 'api',
    loader: memoryLoader(rows, trust),
    settings: { maxEntries: 0, maxBytes: 0, ttlSeconds: 0, revalidateSeconds: 0 },
  });
  // Batches of 10 lookups, CPU time per lookup; the median batch (see cpuMicros).
  const samples: number[] = [];
  for (let i = 0; i < lookups; i += 10) {
    const start = cpuMicros();
    for (let j = i; j < i + 10; j++) await bag.get(`${rows[j % rows.length]!.versionId}#${j}`);
    samples.push((cpuMicros() - start) / 10);
    bag.clear(); // keep the heap small; every lookup is a miss regardless
  }
  bag.close();
  return median(samples.slice(2));
}

export async function measureMissProfile(
  targetsKb: readonly number[] = [5, 44, 300],
): Promise<MissProfileRow[]> {
  const out: MissProfileRow[] = [];
  for (const targetKb of targetsKb) {
    const count = targetKb >= 200 ? 12 : 40;
    const documents = Array.from({ length: count }, (_, i) =>
      makeDagDocument({ targetBytes: targetKb * 1000, seed: targetKb * 1000 + i }),
    );
    const texts = documents.map((d) => JSON.stringify(d));
    const hashes = documents.map((d) => dagHash(d));
    const parsed = texts.map((t) => JSON.parse(t) as unknown);
    const rounds = targetKb >= 200 ? 7 : 15;
    const rows: DagVersionRow[] = documents.map((d, i) => ({
      versionId: `v${i}`,
      dagId: d.dag_id,
      versionNumber: 1,
      dagHash: hashes[i]!,
      createdAt: new Date(0),
      dataText: texts[i]!,
    }));
    const lookups = targetKb >= 200 ? 60 : 300;
    const validated = new Set(hashes);
    const known = { has: (hash: string) => validated.has(hash), add: () => undefined };
    out.push({
      targetKb,
      bytes: Math.round(texts.reduce((sum, t) => sum + Buffer.byteLength(t), 0) / count),
      tasks: Math.round(documents.reduce((sum, d) => sum + d.tasks.length, 0) / count),
      parseUs: time(texts, rounds, (t) => JSON.parse(t)),
      // The one-pass check a miss runs (the schema's zod parse cost ~3x as much: issue 13).
      validateUs: time(texts, rounds, (_t, i) => isValidDocument(parsed[i])),
      hashUs: time(texts, rounds, (_t, i) => known.has(hashes[i]!)),
      // A fresh parse each time: buildDag freezes what it is given.
      buildUs:
        time(texts, rounds, (t) => buildDag(JSON.parse(t))) -
        time(texts, rounds, (t) => JSON.parse(t)),
      weightUs: time(texts, rounds, (t) => Buffer.byteLength(t, 'utf8')),
      beforeUs: time(texts, rounds, (t) => deserializeOwnedDag(JSON.parse(t))),
      afterUs: time(texts, rounds, (_t, i) => entryFromRow(rows[i]!, { validated: known })),
      lookupP50Us: await lookupP50(rows, lookups, true),
      lookupP50BeforeUs: await lookupP50(rows, lookups, false),
    });
  }
  return out;
}

export function missProfileTable(rows: readonly MissProfileRow[]): string[] {
  const ms = (us: number) => (us / 1000).toFixed(2);
  const lines = [
    '| document | tasks | JSON.parse | validation (before: every miss; after: first load of a dag_hash) | known dag_hash lookup (after) | build DAG | weight | miss work before | miss work after (reload) | lookup (median), validated (before) | lookup (median), reload (after) | Airflow, per lookup |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const airflow: Record<number, string> = {
    44: '31 KB: 3.8 ms (1.0 ms after PR #69815)',
    300: '305 KB: 30.4 ms (3.9 ms after PR #69815)',
  };
  for (const r of rows) {
    lines.push(
      `| ${(r.bytes / 1000).toFixed(1)} KB | ${r.tasks} | ${ms(r.parseUs)} ms | ${ms(r.validateUs)} ms | ${ms(r.hashUs)} ms | ${ms(r.buildUs)} ms | ${ms(r.weightUs)} ms | ${ms(r.beforeUs + r.weightUs)} ms | ${ms(r.afterUs)} ms | ${ms(r.lookupP50BeforeUs)} ms | ${ms(r.lookupP50Us)} ms | ${airflow[r.targetKb] ?? ''} |`,
    );
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(missProfileTable(await measureMissProfile()).join('\n'));
}
