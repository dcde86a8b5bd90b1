import { buildDag, DagValidationError, deserializeOwnedDag, type Dag } from './dag.ts';
import type { DagDocument } from './document.ts';
import { entryWeight } from './weight.ts';

/** One `dag_version` joined with its `serialized_dag`, as the loader reads it. */
export interface DagVersionRow {
  versionId: string;
  dagId: string;
  versionNumber: number;
  dagHash: string;
  createdAt: Date;
  /** `serialized_dag.data` as JSON text: the cache parses it (and learns its size from it). */
  dataText: string;
  /** Size of the document as stored, when the loader knows it; else `dataText`'s UTF-8 length. */
  serializedBytes?: number;
}

/**
 * A form of an entry made once, when the entry is loaded, and kept beside it for as long as it is
 * resident (the API keeps its structure answer's JSON bytes here). `bytes` count in the entry's
 * weight; `etag` identifies them (a content hash), so that a reader can answer "not modified".
 */
export interface RenderedEntry {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

/**
 * Makes an entry's `rendered` form (`DagBagOptions.render`); runs once per loaded entry. Bytes that
 * are a view on a larger buffer (a `Buffer.from` slice of Node's shared 64 KiB pool) are copied
 * into a buffer of their own size before they are kept (see `ownBytes`).
 */
export type EntryRenderer = (entry: DagVersionEntry) => RenderedEntry;

/** What the cache hands out. Shared by every caller: treat it as read-only (it is frozen). */
export interface DagVersionEntry {
  readonly versionId: string;
  readonly dagId: string;
  readonly versionNumber: number;
  readonly dagHash: string;
  readonly createdAt: Date;
  readonly dag: Dag;
  /**
   * Estimated retained heap in bytes: serialized bytes times the measured factor, plus the bytes
   * of `rendered`.
   */
  readonly weight: number;
  /** Present when the DagBag was given a `render` function. */
  readonly rendered?: RenderedEntry;
}

/** The dag_hash values of documents already validated in this process (see entryFromRow). */
export interface ValidatedHashes {
  has(hash: string): boolean;
  add(hash: string): void;
}

/**
 * A miss's work after the fetch: parse the JSON text, validate, build the in-memory DAG, weigh it.
 * `dag_hash` is the hash of the document's canonical form: a row whose hash is in `validated` holds
 * a document this process has validated before (typically a version evicted and loaded again), so
 * it is not validated a second time (`trusted`). A row whose hash is new is validated, and its hash
 * remembered once it passes. Throws DagValidationError, naming the version, for a row that does
 * not validate (a corrupt or foreign row).
 */
export function entryFromRow(
  row: DagVersionRow,
  options: { render?: EntryRenderer; validated?: ValidatedHashes } = {},
): { entry: DagVersionEntry; trusted: boolean } {
  const { render, validated } = options;
  const data: unknown = JSON.parse(row.dataText);
  const trusted = validated?.has(row.dagHash) === true;
  const dag = trusted ? buildDag(data as DagDocument) : readStored(row, data);
  if (!trusted) validated?.add(row.dagHash);
  const bytes =
    row.serializedBytes !== undefined && row.serializedBytes > 0
      ? row.serializedBytes
      : Buffer.byteLength(row.dataText, 'utf8');
  const entry: DagVersionEntry = Object.freeze({
    versionId: row.versionId,
    dagId: row.dagId,
    versionNumber: row.versionNumber,
    dagHash: row.dagHash,
    createdAt: row.createdAt,
    dag,
    weight: entryWeight(bytes),
  });
  if (!render) return { entry, trusted };
  const made = render(entry);
  const rendered = Object.freeze({ ...made, bytes: ownBytes(made.bytes) });
  return {
    entry: Object.freeze({ ...entry, rendered, weight: entry.weight + rendered.bytes.byteLength }),
    trusted,
  };
}

/** The row's document as a Dag; a DagValidationError names the version (`version`). */
function readStored(row: DagVersionRow, data: unknown): Dag {
  try {
    return deserializeOwnedDag(data);
  } catch (error) {
    if (!(error instanceof DagValidationError)) throw error;
    const { versionId, dagId, versionNumber } = row;
    throw new DagValidationError(error.problems, { versionId, dagId, versionNumber });
  }
}

/**
 * `bytes` in memory of exactly their size. A view pins its whole buffer for as long as it lives: a
 * small `Buffer.from(string)` is a slice of Node's shared allocation pool (`Buffer.poolSize`, 64
 * KiB in Node 24), so an entry keeping one would hold 64 KiB while its weight counted a few, and a
 * crawl through history, evicting some slices of each slab and keeping others, spread the resident
 * entries over ever more slabs (the soak measured 1000 entries of 6.9 KB pinning 704 slabs, 44 MB,
 * still rising). Bytes that already own their buffer (`TextEncoder.encode`) are kept as they are.
 */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}
