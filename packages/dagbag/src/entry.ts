import { buildDag, deserializeDag, type Dag } from './dag.ts';
import { dagHash, type DagDocument } from './document.ts';
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

/** Makes an entry's `rendered` form (`DagBagOptions.render`); runs once per loaded entry. */
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

/**
 * Whether `data` is the very document the processor validated before it stored it with `hash`:
 * the processor only hashes documents that passed the schema, so a document whose canonical hash
 * matches its row's `dag_hash` needs no second validation. Anything that does not even hash (not
 * an object, no task list) is left to the schema to describe.
 */
function isValidatedDocument(data: unknown, hash: string): data is DagDocument {
  if (data === null || typeof data !== 'object' || !Array.isArray((data as DagDocument).tasks))
    return false;
  try {
    return dagHash(data as DagDocument) === hash;
  } catch {
    return false;
  }
}

/**
 * A miss's work after the fetch (`trusted`: validation was skipped): parse the JSON text, validate unless the hash proves the
 * processor already did, build the in-memory DAG, weigh it. Throws DagValidationError for a row
 * that does not validate (a corrupt or foreign row, whose hash cannot match).
 */
export function entryFromRow(
  row: DagVersionRow,
  render?: EntryRenderer,
): { entry: DagVersionEntry; trusted: boolean } {
  const data: unknown = JSON.parse(row.dataText);
  const trusted = isValidatedDocument(data, row.dagHash);
  const dag = trusted ? buildDag(data) : deserializeDag(data);
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
  const rendered = Object.freeze(render(entry));
  return {
    entry: Object.freeze({ ...entry, rendered, weight: entry.weight + rendered.bytes.byteLength }),
    trusted,
  };
}
