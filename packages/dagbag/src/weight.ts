/**
 * Retained heap of a cached DAG version (the Dag object with its frozen document, task records,
 * upstream/downstream maps and orders): a fixed part per entry plus a part per serialized byte.
 *
 * Measured with `node --expose-gc --import tsx bench/heap-factor.ts` (Node 24, x64): heapUsed
 * delta between full collections, over thousands of distinct realistic documents turned into
 * entries exactly as a miss does (`entryFromRow`), divided by their serialized bytes:
 *
 *   tasks              5     20     50    100    200    500
 *   bytes            3.3K  12.4K  30.4K  60.6K   121K   301K   (serialized, per document)
 *   retained         6.4K  23.1K  54.3K   109K   216K   527K   (heap, per entry)
 *   heap / bytes     1.94   1.86   1.79   1.79   1.79   1.75
 *   weight / heap    1.00   0.98   1.00   0.99   0.99   1.01   (600 + 1.77 x bytes)
 *
 * Strings dominate (bash commands, ids, descriptions), so the heap per byte hardly depends on size;
 * what does is a few hundred bytes every entry has (its objects and maps), which made one factor
 * 7 % short for small documents once the miss stopped copying the document (issue 13: 1.9 alone
 * then overstated the typical 30-60 KB document by 6 %).
 */
export const HEAP_BYTES_PER_SERIALIZED_BYTE = 1.77;
/** The part of an entry's retained heap that does not grow with its document. */
export const HEAP_BYTES_PER_ENTRY = 600;

/** An entry's weight: the fixed part plus serialized bytes times the factor, a whole number. */
export function entryWeight(serializedBytes: number): number {
  return Math.ceil(HEAP_BYTES_PER_ENTRY + serializedBytes * HEAP_BYTES_PER_SERIALIZED_BYTE);
}

/** The serialized size of a document, as `octet_length(data::text)` would report it. */
export function serializedSize(data: unknown): number {
  return Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
}
