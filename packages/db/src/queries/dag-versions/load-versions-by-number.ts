import type { DagVersionRow } from '@dagbag/dagbag';
import { readRows, type PrismaClient } from '../../client.ts';
import { VERSION_COLUMNS_TEXT, toRow, type VersionRecord } from './row.ts';

const STATEMENT = {
  name: 'dagbag_load_versions_by_number',
  text: `SELECT ${VERSION_COLUMNS_TEXT}, s.data::text AS data_text
    FROM unnest($1::text[], $2::int[]) AS wanted(dag_id, version_number)
    JOIN dag_version v ON v.dag_id = wanted.dag_id AND v.version_number = wanted.version_number
    JOIN serialized_dag s ON s.dag_version_id = v.id`,
};

/**
 * The rows of these (dag_id, version_number) pairs in one query; unknown pairs are left out. Read
 * through the pool directly (readRows): a cache miss.
 */
export async function loadVersionsByNumber(
  prisma: PrismaClient,
  refs: readonly { dagId: string; versionNumber: number }[],
): Promise<DagVersionRow[]> {
  if (refs.length === 0) return [];
  const dagIds = refs.map((ref) => ref.dagId);
  const numbers = refs.map((ref) => ref.versionNumber);
  const records = await readRows<VersionRecord>(prisma, STATEMENT, [dagIds, numbers]);
  return records.map(toRow);
}
