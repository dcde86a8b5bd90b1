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
 *   factor    1.94   1.86   1.79   1.79   1.79   1.75
 *
 * Strings dominate (bash commands, ids, descriptions), so the factor hardly depends on size; the
 * small documents are highest because every entry has a few hundred bytes of objects and maps
 * whatever its size. 1.84 is within 3 % of the typical 30-120 KB document and within 5.4 % at
 * either end (issue 13: the miss stopped copying the document, and 1.9, used before, then
 * overstated the typical document by 6 %).
 */
export const HEAP_BYTES_PER_SERIALIZED_BYTE = 1.84;

/** An entry's weight: serialized bytes times the measured factor, a positive whole number. */
export function entryWeight(serializedBytes: number): number {
  return Math.max(1, Math.ceil(serializedBytes * HEAP_BYTES_PER_SERIALIZED_BYTE));
}

/** The serialized size of a document, as `octet_length(data::text)` would report it. */
export function serializedSize(data: unknown): number {
  return Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
}
