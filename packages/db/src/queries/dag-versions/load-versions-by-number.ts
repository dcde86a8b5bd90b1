import type { DagVersionRow } from '@dagbag/dagbag';
import type { PrismaClient } from '../../client.ts';
import { VERSION_COLUMNS, toRow, type VersionRecord } from './row.ts';

/** The rows of these (dag_id, version_number) pairs in one query; unknown pairs are left out. */
export async function loadVersionsByNumber(
  prisma: PrismaClient,
  refs: readonly { dagId: string; versionNumber: number }[],
): Promise<DagVersionRow[]> {
  if (refs.length === 0) return [];
  const dagIds = refs.map((ref) => ref.dagId);
  const numbers = refs.map((ref) => ref.versionNumber);
  const records = await prisma.$queryRaw<VersionRecord[]>`
    SELECT ${VERSION_COLUMNS}, s.data::text AS data_text
    FROM unnest(${dagIds}::text[], ${numbers}::int[]) AS wanted(dag_id, version_number)
    JOIN dag_version v ON v.dag_id = wanted.dag_id AND v.version_number = wanted.version_number
    JOIN serialized_dag s ON s.dag_version_id = v.id`;
  return records.map(toRow);
}
