/**
 * Retained heap per serialized byte of a deserialized DAG version (the Dag object with its frozen
 * document, task records, upstream/downstream maps and orders).
 *
 * MEASURED_PLACEHOLDER
 */
export const HEAP_BYTES_PER_SERIALIZED_BYTE = 3;

/** An entry's weight: serialized bytes times the measured factor, a positive whole number. */
export function entryWeight(serializedBytes: number): number {
  return Math.max(1, Math.ceil(serializedBytes * HEAP_BYTES_PER_SERIALIZED_BYTE));
}

/** The serialized size of a document, as `octet_length(data::text)` would report it. */
export function serializedSize(data: unknown): number {
  return Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
}
