import type { DagVersionRow } from '@dagbag/dagbag';
import { Prisma } from '../../generated/prisma/client.ts';
import type { PrismaClient } from '../../client.ts';
import { VERSION_COLUMNS, toRow, type VersionRecord } from './row.ts';

/** Task instance states that still need the DAG (state null = not yet scheduled). */
export const UNFINISHED_TI_STATES = ['scheduled', 'queued', 'running', 'up_for_retry'] as const;
export const UNFINISHED_RUN_STATES = ['queued', 'running'] as const;

/** The ids of the versions still needed: those of unfinished runs and of unfinished task instances. */
const ACTIVE_VERSION_IDS = Prisma.sql`
  SELECT COALESCE(current_dag_version_id, created_dag_version_id) AS id FROM dag_run
  WHERE state IN ('queued', 'running')
    AND COALESCE(current_dag_version_id, created_dag_version_id) IS NOT NULL
  UNION
  SELECT ti.dag_version_id FROM task_instance ti
  WHERE ti.dag_version_id IS NOT NULL
    AND (ti.state IS NULL OR ti.state IN ('scheduled', 'queued', 'running', 'up_for_retry'))`;

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
