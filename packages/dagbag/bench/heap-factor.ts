/**
 * Measures the heap a deserialized DAG version retains per serialized byte.
 *
 *   node --expose-gc --import tsx bench/heap-factor.ts
 *
 * For each size (5 to 500 tasks) it deserializes many distinct realistic documents from their
 * JSON text (as a row arrives from PostgreSQL), keeps the Dags, and divides the heapUsed delta
 * between two full collections by the documents' serialized bytes.
 */
import { deserializeDag, type Dag } from '../src/dag.ts';
import { makeDagDocument } from '../src/testing.ts';

export interface HeapFactorRow {
  tasks: number;
  documents: number;
  serializedBytesPerDocument: number;
  retainedBytesPerDocument: number;
  factor: number;
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
    const texts = Array.from({ length: documents }, (_, i) =>
      JSON.stringify(makeDagDocument({ taskCount: tasks, seed: tasks * 100_000 + i })),
    );
    const serialized = texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    const dags: Dag[] = new Array<Dag>(documents);
    const before = settle();
    for (let i = 0; i < documents; i++) dags[i] = deserializeDag(JSON.parse(texts[i]!));
    const after = settle();
    if (dags.length !== documents) throw new Error('unreachable: keeps dags alive until measured');
    rows.push({
      tasks,
      documents,
      serializedBytesPerDocument: Math.round(serialized / documents),
      retainedBytesPerDocument: Math.round((after - before) / documents),
      factor: (after - before) / serialized,
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = measureHeapFactor();
  console.table(rows.map((r) => ({ ...r, factor: r.factor.toFixed(2) })));
  console.log(`max factor ${Math.max(...rows.map((r) => r.factor)).toFixed(2)}`);
}
