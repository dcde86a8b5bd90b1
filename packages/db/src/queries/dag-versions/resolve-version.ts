import type { ResolvedVersion, VersionRef } from '@dagbag/dagbag';
import { Prisma } from '../../generated/prisma/client.ts';
import type { PrismaClient } from '../../client.ts';
import { latestVersionIdSql, runVersionIdSql } from './latest.ts';
import { VERSION_COLUMNS, isUuid, type VersionRecord } from './row.ts';

/**
 * The version a run uses now, or a DAG's latest, with its row, in one query. A run uses the
 * version the scheduler moved it to when its DAG changed, else the one it was created with, else
 * (its version was deleted) the DAG's latest, as Airflow's DBDagBag does. The document is left out
 * (`dataText` null) when the version is one of `known`: the cache already holds it.
 */
export async function resolveVersion(
  prisma: PrismaClient,
  ref: VersionRef,
  known: readonly string[],
): Promise<ResolvedVersion | null> {
  const versionId =
    'runId' in ref
      ? Prisma.sql`(SELECT ${runVersionIdSql('r')}
                    FROM dag_run r WHERE r.dag_id = ${ref.dagId} AND r.run_id = ${ref.runId})`
      : latestVersionIdSql({ value: ref.dagId });
  const knownIds = known.filter(isUuid);
  const records = await prisma.$queryRaw<
    (Omit<VersionRecord, 'data_text'> & { data_text: string | null })[]
  >`
    SELECT ${VERSION_COLUMNS},
           CASE WHEN v.id = ANY(${knownIds}::uuid[]) THEN NULL ELSE s.data::text END AS data_text
    FROM dag_version v JOIN serialized_dag s ON s.dag_version_id = v.id
    WHERE v.id = ${versionId}`;
  const record = records[0];
  if (!record) return null;
  return {
    versionId: record.id,
    dagId: record.dag_id,
    versionNumber: record.version_number,
    dagHash: record.dag_hash,
    createdAt: record.created_at,
    dataText: record.data_text,
  };
}
