/**
 * Retained heap per serialized byte of a cached DAG version (the Dag object with its frozen
 * document, task records, upstream/downstream maps and orders).
 *
 * Measured with `node --expose-gc --import tsx bench/heap-factor.ts` (Node 24, x64): heapUsed
 * delta between full collections, over thousands of distinct realistic documents turned into
 * entries exactly as a miss does (`entryFromRow`), divided by their serialized bytes:
 *
 *   tasks       5     20     50    100    200    500
 *   bytes     3.3K  12.4K  30.4K  60.6K   121K   301K   (serialized, per document)
 *   factor    1.95   1.93   1.88   1.89   1.89   1.85
 *
 * The factor hardly depends on size (strings dominate: bash commands, ids, descriptions), so one
 * constant serves: 1.9 is within 3 % of every measured size (2.0, used before, overstated the
 * typical 30-60 KB document by 6 %).
 */
export const HEAP_BYTES_PER_SERIALIZED_BYTE = 1.9;

/** An entry's weight: serialized bytes times the measured factor, a positive whole number. */
export function entryWeight(serializedBytes: number): number {
  return Math.max(1, Math.ceil(serializedBytes * HEAP_BYTES_PER_SERIALIZED_BYTE));
}

/** The serialized size of a document, as `octet_length(data::text)` would report it. */
export function serializedSize(data: unknown): number {
  return Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
}
