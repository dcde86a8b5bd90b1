/**
 * The examine step of the scheduling loop and the decisions taken for each examined run. Nothing
 * here loads task instance rows into the process: runs are chosen from `dag_run` alone, a DAG
 * change is one bulk UPDATE, and trigger rules are evaluated inside PostgreSQL, returning only the
 * instances that changed (incident 3 of docs/architecture.md: eager loading churned 6.5 MB per
 * loop).
 */
import type { Prisma } from '../../client.ts';
import { latestVersionIdSql } from '../dag-versions/latest.ts';
import { insertTaskInstances } from '../run-task-instances.ts';
import { unfinishedTaskStateSql } from '../states.ts';
import type { GraphArrays, TaskSpec } from './types.ts';

type Tx = Prisma.TransactionClient;

export interface RunToExamine {
  id: number;
  dagId: string;
  runId: string;
  /** The version the run's unfinished task instances point at. */
  versionId: string | null;
  /** The DAG's newest version; differs from `versionId` when the DAG file changed mid-run. */
  latestVersionId: string | null;
}

/**
 * Locks up to `limit` running runs, least recently examined first (never-examined first of all),
 * skipping runs another scheduler is examining. Runs of paused or stale DAGs wait, as in Airflow,
 * and so does a run whose logical date is still ahead (triggered for a later date): Airflow's
 * scheduler schedules none of its tasks until that date ("Logical date is in future").
 * Must run inside a transaction: the row locks last until it ends. Reads `dag_run`, `dag` and
 * `dag_version` only.
 */
export async function lockRunsToExamine(tx: Tx, limit: number): Promise<RunToExamine[]> {
  return tx.$queryRaw<RunToExamine[]>`
    SELECT r.id, r.dag_id AS "dagId", r.run_id AS "runId",
           COALESCE(r.current_dag_version_id, r.created_dag_version_id)::text AS "versionId",
           ${latestVersionIdSql({ column: 'r.dag_id' })}::text AS "latestVersionId"
    FROM dag_run r
    JOIN dag d ON d.dag_id = r.dag_id
    WHERE r.state = 'running' AND NOT d.is_paused AND NOT d.is_stale
      AND (r.logical_date IS NULL OR r.logical_date <= now())
    ORDER BY r.last_scheduling_decision NULLS FIRST, r.id
    LIMIT ${limit}
    FOR UPDATE OF r SKIP LOCKED`;
}

/** Runs of one DAG version, decided together: one statement serves them all. */
export interface RunRef {
  runPk: number;
  dagId: string;
  runId: string;
}

function runArrays(runs: readonly RunRef[]) {
  return {
    pks: runs.map((r) => r.runPk),
    dagIds: runs.map((r) => r.dagId),
    runIds: runs.map((r) => r.runId),
  };
}

export interface RepointResult {
  /**
   * Unfinished (or restored) instances now on the new version, plus vanished tasks marked removed.
   */
  updated: number;
  /** Instances created for tasks the new version added. */
  inserted: number;
}

/**
 * Moves runs to a new version of their DAG: ONE bulk UPDATE re-points every unfinished task
 * instance (state null included) whose task still exists, restores `removed` ones whose task came
 * back (state null, as Airflow does), and marks those whose task vanished `removed`; one INSERT
 * ... ON CONFLICT DO NOTHING adds instances for new tasks; one UPDATE records the runs' version.
 * All runs given move to `versionId` together, whatever their number.
 */
export async function repointRunsToVersion(
  tx: Tx,
  input: { runs: readonly RunRef[]; versionId: string; tasks: readonly TaskSpec[] },
): Promise<RepointResult> {
  if (input.runs.length === 0) return { updated: 0, inserted: 0 };
  const { pks, dagIds, runIds } = runArrays(input.runs);
  const taskIds = input.tasks.map((task) => task.taskId);
  const updated = await tx.$executeRaw`
    UPDATE task_instance ti SET
      dag_version_id = CASE WHEN ti.task_id = ANY(${taskIds}::text[]) THEN ${input.versionId}::uuid ELSE ti.dag_version_id END,
      state = CASE WHEN ti.task_id = ANY(${taskIds}::text[]) THEN NULLIF(ti.state, 'removed') ELSE 'removed' END,
      updated_at = now()
    FROM unnest(${dagIds}::text[], ${runIds}::text[]) AS r(dag_id, run_id)
    WHERE ti.dag_id = r.dag_id AND ti.run_id = r.run_id
      AND (${unfinishedTaskStateSql('ti.state')}
           OR (ti.state = 'removed' AND ti.task_id = ANY(${taskIds}::text[])))`;
  const inserted = await insertTaskInstances(tx, {
    runs: input.runs,
    versionId: input.versionId,
    tasks: input.tasks,
  });
  await tx.$executeRaw`
    UPDATE dag_run SET current_dag_version_id = ${input.versionId}::uuid, updated_at = now() WHERE id = ANY(${pks}::int[])`;
  return { updated, inserted };
}

/** `up_for_retry` instances of these runs whose delay has passed become `scheduled` again. */
export async function scheduleDueRetries(tx: Tx, runs: readonly RunRef[]): Promise<number> {
  if (runs.length === 0) return 0;
  const { dagIds, runIds } = runArrays(runs);
  return tx.$executeRaw`
    UPDATE task_instance ti SET state = 'scheduled', scheduled_dttm = now(), updated_at = now()
    FROM unnest(${dagIds}::text[], ${runIds}::text[]) AS r(dag_id, run_id)
    WHERE ti.dag_id = r.dag_id AND ti.run_id = r.run_id
      AND ti.state = 'up_for_retry' AND (ti.next_retry_at IS NULL OR ti.next_retry_at <= now())`;
}

export interface TaskDecision {
  dagId: string;
  runId: string;
  taskId: string;
  state: 'scheduled' | 'success' | 'skipped' | 'upstream_failed';
}

/**
 * One pass of the trigger rules over the instances in state null of `runs` (all on the version
 * `graph` describes), evaluated in SQL against the version's edges (Airflow's TriggerRuleDep with
 * flag_upstream_failed):
 *
 * rule        | ready when | otherwise, once decidable
 * ------------|------------|--------------------------
 * all_success | every upstream succeeded | upstream_failed if any failed, skipped if any skipped
 * all_done    | every upstream finished | -
 * one_success | any upstream succeeded | all done: skipped if all skipped, else upstream_failed
 * one_failed  | any upstream failed | all done without failure: skipped
 * none_failed | every upstream done, none failed | upstream_failed if any failed
 *
 * "failed" includes upstream_failed. A ready `empty` task succeeds on the spot; a ready task of
 * another operator becomes `scheduled` for the executor. Returns what changed; call again while
 * it returns something, because each change may decide the next level.
 */
export async function decideTaskInstances(
  tx: Tx,
  input: { runs: readonly RunRef[]; graph: GraphArrays },
): Promise<TaskDecision[]> {
  const { graph } = input;
  if (input.runs.length === 0) return [];
  const { dagIds, runIds } = runArrays(input.runs);
  return tx.$queryRaw<TaskDecision[]>`
    WITH runs AS (
      SELECT * FROM unnest(${dagIds}::text[], ${runIds}::text[]) AS r(dag_id, run_id)
    ), tasks AS (
      SELECT * FROM unnest(${graph.taskIds}::text[], ${graph.triggerRules}::text[], ${graph.isEmpty}::boolean[])
        AS t(task_id, rule, is_empty)
    ), edges AS (
      SELECT * FROM unnest(${graph.edgeTaskIds}::text[], ${graph.edgeUpstreamIds}::text[]) AS e(task_id, upstream_id)
    ), waiting AS (
      SELECT ti.id, ti.dag_id, ti.run_id, ti.task_id
      FROM task_instance ti JOIN runs r ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
      WHERE ti.map_index = -1 AND ti.state IS NULL
    ), counts AS (
      -- One aggregate pass (never joined back to its input: with the planner's row estimates for
      -- unnest() and fresh tables, that join became a per-row re-aggregation). Upstream states
      -- come through the (dag_id, run_id, task_id, map_index) key, an index lookup each: LATERAL
      -- with LIMIT 1 (the key is unique) keeps the planner from pulling the lookup up into a join
      -- that, on a table analyzed while small, probes the index by task_id alone and filters
      -- every run's rows (incident 3's table at 20 runs x 20 tasks: 9,250 rows read and dropped).
      SELECT w.id, w.task_id,
             count(e.upstream_id) AS upstream,
             count(*) FILTER (WHERE u.state = 'success') AS succeeded,
             count(*) FILTER (WHERE u.state = 'skipped') AS skipped,
             count(*) FILTER (WHERE u.state IN ('failed', 'upstream_failed')) AS failed,
             count(*) FILTER (WHERE u.state IN ('success', 'failed', 'upstream_failed', 'skipped', 'removed')) AS done
      FROM waiting w
      LEFT JOIN edges e ON e.task_id = w.task_id
      LEFT JOIN LATERAL (
        SELECT up.state FROM task_instance up
        WHERE up.dag_id = w.dag_id AND up.run_id = w.run_id AND up.task_id = e.upstream_id AND up.map_index = -1
        LIMIT 1
      ) u ON true
      GROUP BY w.id, w.task_id
    ), decisions AS (
      SELECT c.id, t.is_empty,
        CASE
          WHEN c.upstream = 0 THEN 'ready'
          WHEN t.rule = 'all_success' THEN CASE
            WHEN c.failed > 0 THEN 'upstream_failed' WHEN c.skipped > 0 THEN 'skipped'
            WHEN c.succeeded = c.upstream THEN 'ready' END
          WHEN t.rule = 'all_done' THEN CASE WHEN c.done = c.upstream THEN 'ready' END
          WHEN t.rule = 'one_success' THEN CASE
            WHEN c.succeeded > 0 THEN 'ready'
            WHEN c.done = c.upstream AND c.skipped = c.upstream THEN 'skipped'
            WHEN c.done = c.upstream THEN 'upstream_failed' END
          WHEN t.rule = 'one_failed' THEN CASE
            WHEN c.failed > 0 THEN 'ready' WHEN c.done = c.upstream THEN 'skipped' END
          WHEN t.rule = 'none_failed' THEN CASE
            WHEN c.failed > 0 THEN 'upstream_failed' WHEN c.done = c.upstream THEN 'ready' END
        END AS decision
      FROM counts c
      JOIN tasks t ON t.task_id = c.task_id
    )
    UPDATE task_instance ti SET
      state = CASE WHEN d.decision <> 'ready' THEN d.decision WHEN d.is_empty THEN 'success' ELSE 'scheduled' END,
      scheduled_dttm = CASE WHEN d.decision = 'ready' THEN now() ELSE ti.scheduled_dttm END,
      try_number = CASE WHEN d.decision = 'ready' AND d.is_empty THEN ti.try_number + 1 ELSE ti.try_number END,
      start_date = CASE WHEN d.decision <> 'ready' OR d.is_empty THEN now() ELSE ti.start_date END,
      end_date = CASE WHEN d.decision <> 'ready' OR d.is_empty THEN now() ELSE NULL END,
      duration = CASE WHEN d.decision <> 'ready' OR d.is_empty THEN 0 ELSE ti.duration END,
      updated_at = now()
    FROM decisions d
    WHERE ti.id = d.id AND d.decision IS NOT NULL AND ti.state IS NULL
    RETURNING ti.dag_id AS "dagId", ti.run_id AS "runId", ti.task_id AS "taskId", ti.state`;
}

export interface FinishedRun {
  runPk: number;
  dagId: string;
  runId: string;
  state: 'success' | 'failed';
}

/**
 * Ends each of `runs` (all on the version whose leaves are given) that has no unfinished
 * instance: `failed` if a leaf failed (or its upstream did), else `success` (Airflow's rule).
 * Only runs still `running` are touched, so a run an operator marked success or failed is never
 * resurrected.
 */
export async function finishRunsIfDone(
  tx: Tx,
  input: { runs: readonly RunRef[]; leafTaskIds: readonly string[] },
): Promise<FinishedRun[]> {
  if (input.runs.length === 0) return [];
  const { pks, dagIds, runIds } = runArrays(input.runs);
  const leaves = [...input.leafTaskIds];
  return tx.$queryRaw<FinishedRun[]>`
    WITH runs AS (
      SELECT * FROM unnest(${pks}::int[], ${dagIds}::text[], ${runIds}::text[]) AS r(pk, dag_id, run_id)
    ), summary AS (
      SELECT r.pk,
             count(ti.id) FILTER (WHERE ${unfinishedTaskStateSql('ti.state')}) AS unfinished,
             count(ti.id) FILTER (WHERE ti.task_id = ANY(${leaves}::text[]) AND ti.state IN ('failed', 'upstream_failed')) AS failed_leaves
      FROM runs r LEFT JOIN task_instance ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
      GROUP BY r.pk
    )
    UPDATE dag_run d SET state = CASE WHEN s.failed_leaves > 0 THEN 'failed' ELSE 'success' END,
                         end_date = now(), updated_at = now()
    FROM summary s
    WHERE d.id = s.pk AND d.state = 'running' AND s.unfinished = 0
    RETURNING d.id AS "runPk", d.dag_id AS "dagId", d.run_id AS "runId", d.state`;
}

/** Puts the examined runs at the back of the round-robin. */
export async function markRunsExamined(tx: Tx, runPks: readonly number[]): Promise<void> {
  if (runPks.length === 0) return;
  await tx.$executeRaw`
    UPDATE dag_run SET last_scheduling_decision = now() WHERE id = ANY(${[...runPks]}::int[])`;
}
