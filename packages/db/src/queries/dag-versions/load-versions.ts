import type { DagVersionRow } from '@dagbag/dagbag';
import type { PrismaClient } from '../../client.ts';
import { VERSION_COLUMNS, isUuid, toRow, type VersionRecord } from './row.ts';

/** The rows of these version ids in one query; ids without a row (or not uuids) are left out. */
export async function loadVersions(
  prisma: PrismaClient,
  versionIds: readonly string[],
): Promise<DagVersionRow[]> {
  const ids = versionIds.filter(isUuid);
  if (ids.length === 0) return [];
  const records = await prisma.$queryRaw<VersionRecord[]>`
    SELECT ${VERSION_COLUMNS}, s.data::text AS data_text
    FROM dag_version v JOIN serialized_dag s ON s.dag_version_id = v.id
    WHERE v.id = ANY(${ids}::uuid[])`;
  return records.map(toRow);
}
