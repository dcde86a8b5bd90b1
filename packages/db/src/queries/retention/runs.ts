/**
 * Cleaning old runs (`pnpm db:clean`, table `dag_run`): finished runs that ended before a moment,
 * with their task instances and tries (foreign keys cascade), a batch at a time. What the
 * scheduler and the listings derive from runs stays as it was:
 * - never a queued or running run, nor a finished one with a task instance still queued or
 *   running (a run marked failed while its task ran);
 * - never a DAG's latest run (by run_after, then id: GET /dags' last_dag_run_state and last_run_*);
 * - never a DAG's latest scheduled run (by data_interval_end): the DAG file processor continues a
 *   changed schedule after it (`syncDagFromFile`), so without it a catchup DAG would run its whole
 *   history from start_date again (Airflow's db clean keeps the last non-manual run for this).
 * Each predicate is evaluated when the batch is taken, on the rows as they are then: a run that
 * became the latest meanwhile is kept.
 */
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../scheduler/types.ts';

/** SQL: run `alias` may be cleaned as history that ended before `before`. */
export function cleanableRunSql(alias: string, before: Date): Prisma.Sql {
  const r = Prisma.raw(alias);
  return Prisma.sql`(${r}.state IN ('success', 'failed')
    AND COALESCE(${r}.end_date, ${r}.start_date, ${r}.run_after) < ${before}
    AND EXISTS (SELECT 1 FROM dag_run newer
                WHERE newer.dag_id = ${r}.dag_id AND newer.run_after >= ${r}.run_after
                  AND (newer.run_after, newer.id) > (${r}.run_after, ${r}.id))
    AND (${r}.run_type <> 'scheduled' OR EXISTS (
           SELECT 1 FROM dag_run later
           WHERE later.dag_id = ${r}.dag_id AND later.run_type = 'scheduled'
             AND later.run_after >= ${r}.run_after
             AND later.data_interval_end > ${r}.data_interval_end))
    AND NOT EXISTS (SELECT 1 FROM task_instance busy
                    WHERE busy.dag_id = ${r}.dag_id AND busy.run_id = ${r}.run_id
                      AND busy.state IN ('queued', 'running')))`;
}

/** One cleaned (or, in a dry run, cleanable) run, with the rows that go with it. */
export interface CleanedRun {
  id: number;
  dagId: string;
  runId: string;
  taskInstances: number;
  tries: number;
}

export interface RunBatchInput {
  before: Date;
  /** Only runs with a larger id (the last id of the previous batch; 0 at first). */
  afterId: number;
  limit: number;
}

const WITH_COUNTS = Prisma.sql`
  (SELECT count(*) FROM task_instance ti WHERE ti.dag_id = g.dag_id AND ti.run_id = g.run_id)::int AS "taskInstances",
  (SELECT count(*) FROM task_instance_history h WHERE h.dag_id = g.dag_id AND h.run_id = g.run_id)::int AS tries`;

/**
 * Deletes the next `limit` cleanable runs by id (one statement: one short transaction), skipping
 * rows another transaction holds. Their task instances and tries go with them (ON DELETE
 * CASCADE); the counts are theirs as they were.
 */
export function deleteRunBatch(db: Db, input: RunBatchInput): Promise<CleanedRun[]> {
  return db.$queryRaw<CleanedRun[]>`
    WITH doomed AS (
      SELECT r.id FROM dag_run r
      WHERE r.id > ${input.afterId} AND ${cleanableRunSql('r', input.before)}
      ORDER BY r.id
      LIMIT ${input.limit}
      FOR UPDATE OF r SKIP LOCKED
    ), g AS (
      DELETE FROM dag_run r USING doomed d WHERE r.id = d.id
      RETURNING r.id, r.dag_id, r.run_id
    )
    SELECT g.id, g.dag_id AS "dagId", g.run_id AS "runId", ${WITH_COUNTS}
    FROM g ORDER BY g.id`;
}

/** What `deleteRunBatch` would delete, deleting nothing (a dry run). */
export function selectRunBatch(db: Db, input: RunBatchInput): Promise<CleanedRun[]> {
  return db.$queryRaw<CleanedRun[]>`
    SELECT g.id, g.dag_id AS "dagId", g.run_id AS "runId", ${WITH_COUNTS}
    FROM (SELECT r.id, r.dag_id, r.run_id FROM dag_run r
          WHERE r.id > ${input.afterId} AND ${cleanableRunSql('r', input.before)}
          ORDER BY r.id
          LIMIT ${input.limit}) g
    ORDER BY g.id`;
}
