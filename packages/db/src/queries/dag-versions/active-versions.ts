import type { DagVersionRow } from '@dagbag/dagbag';
import { Prisma } from '../../generated/prisma/client.ts';
import type { PrismaClient } from '../../client.ts';
import { unfinishedRunStateSql, unfinishedTaskStateSql } from '../states.ts';
import { VERSION_COLUMNS, toRow, type VersionRecord } from './row.ts';

/**
 * The ids of the versions still needed: those of unfinished runs and of unfinished task instances.
 */
const ACTIVE_VERSION_IDS = Prisma.sql`
  SELECT COALESCE(current_dag_version_id, created_dag_version_id) AS id FROM dag_run
  WHERE ${unfinishedRunStateSql('state')}
    AND COALESCE(current_dag_version_id, created_dag_version_id) IS NOT NULL
  UNION
  SELECT ti.dag_version_id FROM task_instance ti
  WHERE ti.dag_version_id IS NOT NULL
    AND ${unfinishedTaskStateSql('ti.state')}`;

/** The ids of the versions still needed (the scheduler's reconciliation), in one query. */
export async function activeVersionIds(prisma: PrismaClient): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ id: string }[]>`
    SELECT active.id::text AS id FROM (${ACTIVE_VERSION_IDS}) AS active`;
  return rows.map((row) => row.id);
}

/** The rows of those versions (the scheduler's prewarm), in one query. */
export async function loadActiveVersions(prisma: PrismaClient): Promise<DagVersionRow[]> {
  const records = await prisma.$queryRaw<VersionRecord[]>`
    SELECT ${VERSION_COLUMNS}, s.data::text AS data_text
    FROM (${ACTIVE_VERSION_IDS}) AS active
    JOIN dag_version v ON v.id = active.id
    JOIN serialized_dag s ON s.dag_version_id = v.id`;
  return records.map(toRow);
}
