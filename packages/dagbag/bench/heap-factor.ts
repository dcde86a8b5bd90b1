/**
 * Measures the heap a deserialized DAG version retains per serialized byte.
 *
 *   node --expose-gc --import tsx bench/heap-factor.ts
 *
 * For each size (5 to 500 tasks) it turns many distinct realistic documents into cache entries
 * exactly as a miss does (`entryFromRow`: the row's JSON text parsed, its dag_hash checked, the DAG
 * built), keeps the entries, and divides the heapUsed delta between two full collections by the
 * documents' serialized bytes.
 */
import { dagHash } from '../src/document.ts';
import { entryFromRow, type DagVersionEntry } from '../src/entry.ts';
import { makeDagDocument } from '../src/testing.ts';
import { entryWeight } from '../src/weight.ts';

export interface HeapFactorRow {
  tasks: number;
  documents: number;
  serializedBytesPerDocument: number;
  retainedBytesPerDocument: number;
  factor: number;
  /** The weight the cache gives such an entry (entryWeight) over the heap it retains. */
  weightOverHeap: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

export function measureHeapFactor(
  sizes: readonly number[] = [5, 20, 50, 100, 200, 500],
  bytesPerSize = 16_000_000,
): HeapFactorRow[] {
  if (!gc) throw new Error('run with node --expose-gc');
  const rows: HeapFactorRow[] = [];
  for (const tasks of sizes) {
    const sample = JSON.stringify(makeDagDocument({ taskCount: tasks, seed: 1 })).length;
    const documents = Math.max(50, Math.min(4000, Math.ceil(bytesPerSize / sample)));
    const versionRows = Array.from({ length: documents }, (_, i) => {
      const document = makeDagDocument({ taskCount: tasks, seed: tasks * 100_000 + i });
      return {
        versionId: `v${i}`,
        dagId: document.dag_id,
        versionNumber: 1,
        dagHash: dagHash(document),
        createdAt: new Date(0),
        dataText: JSON.stringify(document),
      };
    });
    const serialized = versionRows.reduce((sum, row) => sum + Buffer.byteLength(row.dataText), 0);
    const entries: DagVersionEntry[] = new Array<DagVersionEntry>(documents);
    const before = settle();
    for (let i = 0; i < documents; i++) entries[i] = entryFromRow(versionRows[i]!).entry;
    const after = settle();
    if (entries.length !== documents)
      throw new Error('unreachable: keeps entries alive until measured');
    rows.push({
      tasks,
      documents,
      serializedBytesPerDocument: Math.round(serialized / documents),
      retainedBytesPerDocument: Math.round((after - before) / documents),
      factor: (after - before) / serialized,
      weightOverHeap:
        versionRows.reduce((sum, row) => sum + entryWeight(Buffer.byteLength(row.dataText)), 0) /
        (after - before),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = measureHeapFactor();
  console.table(
    rows.map((r) => ({
      ...r,
      factor: r.factor.toFixed(2),
      weightOverHeap: r.weightOverHeap.toFixed(3),
    })),
  );
  const off = Math.max(...rows.map((r) => Math.abs(r.weightOverHeap - 1)));
  console.log(`weight within ${(100 * off).toFixed(1)} % of the retained heap at every size`);
}
