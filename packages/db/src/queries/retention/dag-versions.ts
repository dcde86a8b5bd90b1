/**
 * Cleaning old DAG versions (`pnpm db:clean`, table `dag_version`): a version goes with its
 * serialized DAG and source text (ON DELETE CASCADE) once a newer version of its DAG existed
 * before the moment given (so never a DAG's latest, and never one that was the latest after it)
 * and nothing that remains refers to it: no run was created on it or moved to it, no task
 * instance or earlier try ran on it.
 */
import type { Db } from '../scheduler/types.ts';

/**
 * The cleanable versions' ids. `goneRunIds`: runs to count as deleted already (a dry run, whose
 * runs are all still there); empty when the runs were cleaned first or are not being cleaned.
 * One pass over runs, task instances and tries (hash joins), whatever the number of versions.
 */
export async function dagVersionsToClean(
  db: Db,
  input: { before: Date; goneRunIds: readonly number[] },
): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH gone AS (SELECT unnest(${[...input.goneRunIds]}::int[]) AS id),
    staying AS MATERIALIZED (
      SELECT r.dag_id, r.run_id, r.created_dag_version_id, r.current_dag_version_id
      FROM dag_run r WHERE NOT EXISTS (SELECT 1 FROM gone WHERE gone.id = r.id)
    ),
    used AS (
      SELECT created_dag_version_id AS id FROM staying
      UNION SELECT current_dag_version_id FROM staying
      UNION SELECT ti.dag_version_id FROM task_instance ti
            JOIN staying s ON s.dag_id = ti.dag_id AND s.run_id = ti.run_id
      UNION SELECT h.dag_version_id FROM task_instance_history h
            JOIN staying s ON s.dag_id = h.dag_id AND s.run_id = h.run_id
    )
    SELECT v.id::text AS id FROM dag_version v
    WHERE EXISTS (SELECT 1 FROM dag_version newer
                  WHERE newer.dag_id = v.dag_id AND newer.version_number > v.version_number
                    AND newer.created_at < ${input.before})
      AND NOT EXISTS (SELECT 1 FROM used WHERE used.id = v.id)
    ORDER BY v.id`;
  return rows.map((row) => row.id);
}

/**
 * Deletes these versions (a batch of `dagVersionsToClean`), each only if still no run was created
 * on it and no task instance points at it (both indexed; nothing else can start using a version
 * that is no longer its DAG's latest). How many it deleted.
 */
export function deleteDagVersions(db: Db, ids: readonly string[]): Promise<number> {
  return db.$executeRaw`
    DELETE FROM dag_version v
    WHERE v.id = ANY(${[...ids]}::uuid[])
      AND NOT EXISTS (SELECT 1 FROM dag_run r WHERE r.created_dag_version_id = v.id)
      AND NOT EXISTS (SELECT 1 FROM task_instance ti WHERE ti.dag_version_id = v.id)`;
}
