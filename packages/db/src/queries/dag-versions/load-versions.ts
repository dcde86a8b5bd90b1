import type { DagVersionRow } from '@dagbag/dagbag';
import { readRows, type PrismaClient } from '../../client.ts';
import { VERSION_COLUMNS_TEXT, isUuid, toRow, type VersionRecord } from './row.ts';

const STATEMENT = {
  name: 'dagbag_load_versions',
  text: `SELECT ${VERSION_COLUMNS_TEXT}, s.data::text AS data_text
    FROM dag_version v JOIN serialized_dag s ON s.dag_version_id = v.id
    WHERE v.id = ANY($1::uuid[])`,
};

/**
 * The rows of these version ids in one query; ids without a row (or not uuids) are left out.
 * Read through the pool directly (readRows): a cache miss.
 */
export async function loadVersions(
  prisma: PrismaClient,
  versionIds: readonly string[],
): Promise<DagVersionRow[]> {
  const ids = versionIds.filter(isUuid);
  if (ids.length === 0) return [];
  const records = await readRows<VersionRecord>(prisma, STATEMENT, [ids]);
  return records.map(toRow);
}
