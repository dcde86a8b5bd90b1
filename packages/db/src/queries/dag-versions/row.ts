import type { DagVersionRow } from '@dagbag/dagbag';
import { Prisma } from '../../generated/prisma/client.ts';

/**
 * The columns every loader query reads: the version and its document as JSON text (the cache
 * parses it once itself and learns its exact size from it). `v` is dag_version, `s` serialized_dag.
 */
export const VERSION_COLUMNS_TEXT =
  'v.id::text AS id, v.dag_id, v.version_number, v.created_at, s.dag_hash';
export const VERSION_COLUMNS = Prisma.raw(VERSION_COLUMNS_TEXT);

export interface VersionRecord {
  id: string;
  dag_id: string;
  version_number: number;
  created_at: Date;
  dag_hash: string;
  data_text: string;
}

export function toRow(record: VersionRecord): DagVersionRow {
  return {
    versionId: record.id,
    dagId: record.dag_id,
    versionNumber: record.version_number,
    dagHash: record.dag_hash,
    createdAt: record.created_at,
    dataText: record.data_text,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arrive from URLs; a non-uuid would be a database error, and it simply does not exist. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
