/**
 * Task instances from the executor's side. Every transition is conditional on the state (and the
 * job and try) it expects, so a scheduler never overwrites what another one, the API or a
 * heartbeat timeout decided meanwhile.
 */
import { ADVISORY_LOCK_KEYS } from '../../advisory-locks.ts';
import type { PrismaClient } from '../../client.ts';
import { recordEvent } from '../api/event-logs.ts';
import type { Db } from './types.ts';

export interface ClaimedTaskInstance {
  id: string;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  maxTries: number;
  versionId: string | null;
  /** The run's logical date (null for a manual run triggered without one). */
  logicalDate: Date | null;
  /**
   * The run's `conf` as stored (a JSON object; `{}` unless given on trigger). Read at each claim,
   * so every try of the run's tasks, a retry or a cleared one included, gets the same.
   */
  conf: unknown;
  /** The run's data interval (null for a manual run triggered without a logical date). */
  dataIntervalStart: Date | null;
  dataIntervalEnd: Date | null;
  /** When the run was due (Airflow's `run_after`). */
  runAfter: Date;
}

/**
 * Atomically takes up to `limit` scheduled instances of running runs of unpaused DAGs for this job:
 * they become `queued` with the next try number. SKIP LOCKED makes concurrent claims disjoint, and
 * the `state = 'scheduled'` filter is re-checked under the row lock, so no instance is claimed
 * twice.
 *
 * A run has at most its DAG's `max_active_tasks` instances queued or running (per run, as Airflow
 * 3 counts it): a claim takes no more than the room each run has left. Claims across schedulers
 * are serialized by an advisory lock (ADVISORY_LOCK_KEYS.taskClaim), as Airflow's critical
 * section serializes its schedulers, so each claim counts what the ones before it committed (a
 * statement's snapshot is taken after the lock, READ COMMITTED) and two schedulers cannot fill
 * the same room twice.
 *
 * An instance whose previous try may still be alive is not claimed: `last_heartbeat_at` stays set
 * from the claim until that try's process has ended (see `releaseTaskInstanceTry`), and is kept
 * fresh meanwhile, whatever the instance's state (cleared, marked, handed back). So a new try
 * never runs beside the old one; a dead job or a heartbeat older than the timeout lets it go.
 *
 * The locked ids are chosen once, in a MATERIALIZED CTE, and the UPDATE joins them: as
 * `WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` the planner may pick a nested-loop
 * semi join that re-runs the subquery per outer row, and each re-run skips the rows this very
 * statement just updated and locks further ones: more rows than `limit` (parallelism exceeded).
 */
interface ClaimInput {
  jobId: number;
  limit: number;
  hostname: string;
  heartbeatTimeoutSeconds: number;
}

export async function claimScheduledTaskInstances(
  prisma: PrismaClient,
  input: ClaimInput,
): Promise<ClaimedTaskInstance[]> {
  if (input.limit <= 0) return [];
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEYS.taskClaim}::bigint)`;
    return claimWithinRoom(tx, input);
  });
}

function claimWithinRoom(tx: Db, input: ClaimInput): Promise<ClaimedTaskInstance[]> {
  return tx.$queryRaw<ClaimedTaskInstance[]>`
    WITH active AS (
      SELECT dag_id, run_id, count(*)::int AS n FROM task_instance
      WHERE state IN ('queued', 'running')
      GROUP BY dag_id, run_id
    ), candidates AS MATERIALIZED (
      SELECT t.id,
             row_number() OVER (PARTITION BY t.dag_id, t.run_id
                                ORDER BY t.scheduled_dttm NULLS LAST, t.id) AS position,
             d.max_active_tasks - coalesce(a.n, 0) AS room
      FROM task_instance t
      JOIN dag_run r ON r.dag_id = t.dag_id AND r.run_id = t.run_id AND r.state = 'running'
      JOIN dag d ON d.dag_id = t.dag_id AND NOT d.is_paused
      LEFT JOIN active a ON a.dag_id = t.dag_id AND a.run_id = t.run_id
      WHERE t.state = 'scheduled'
        -- The previous try's process is gone (released), or its heartbeat or its job is dead.
        AND (t.last_heartbeat_at IS NULL
             OR t.last_heartbeat_at < now() - (${input.heartbeatTimeoutSeconds}::float8 * interval '1 second')
             OR NOT EXISTS (SELECT 1 FROM job j WHERE j.id = t.queued_by_job_id AND j.state = 'running'))
    ), picked AS MATERIALIZED (
      SELECT t.id, r.logical_date, r.conf, r.data_interval_start, r.data_interval_end, r.run_after
      FROM task_instance t
      JOIN dag_run r ON r.dag_id = t.dag_id AND r.run_id = t.run_id
      WHERE t.id IN (SELECT id FROM candidates WHERE position <= room)
      ORDER BY t.scheduled_dttm NULLS LAST, t.id
      LIMIT ${input.limit}
      FOR UPDATE OF t SKIP LOCKED)
    UPDATE task_instance ti SET
      state = 'queued', try_number = ti.try_number + 1, queued_by_job_id = ${input.jobId},
      queued_dttm = now(), hostname = ${input.hostname}, pid = NULL, last_heartbeat_at = now(),
      start_date = NULL, end_date = NULL, duration = NULL, next_retry_at = NULL, updated_at = now()
    FROM picked
    WHERE ti.id = picked.id AND ti.state = 'scheduled'
    RETURNING ti.id::text AS id, ti.dag_id AS "dagId", ti.run_id AS "runId", ti.task_id AS "taskId",
              ti.map_index AS "mapIndex", ti.try_number AS "tryNumber", ti.max_tries AS "maxTries",
              ti.dag_version_id::text AS "versionId", picked.logical_date AS "logicalDate",
              picked.conf AS conf, picked.data_interval_start AS "dataIntervalStart",
              picked.data_interval_end AS "dataIntervalEnd", picked.run_after AS "runAfter"`;
}

/** queued -> running once the process exists; false if the instance is no longer ours. */
export async function markTaskInstanceRunning(
  db: Db,
  input: { id: string; jobId: number; pid: number | null },
): Promise<boolean> {
  const count = await db.$executeRaw`
    UPDATE task_instance SET state = 'running', pid = ${input.pid}, start_date = now(), last_heartbeat_at = now(), updated_at = now()
    WHERE id = ${input.id}::uuid AND state = 'queued' AND queued_by_job_id = ${input.jobId}`;
  return count > 0;
}

export type TryOutcome = 'success' | 'failed' | 'skipped';

/**
 * Records how a try ended. A failed try with tries left becomes `up_for_retry` (next_retry_at =
 * now + retry delay), else `failed`; `skipped` (BashOperator's exit code 99) and `success` are
 * final. The try's process is gone: `last_heartbeat_at` is cleared, so the instance may be
 * claimed again. Returns the state written, or null when the instance had meanwhile been taken
 * from us (heartbeat timeout, API, DAG change): then nothing is written (see
 * `releaseTaskInstanceTry`).
 */
export async function finishTaskInstanceTry(
  db: Db,
  input: {
    id: string;
    jobId: number;
    tryNumber: number;
    outcome: TryOutcome;
    retryDelaySeconds: number;
  },
): Promise<string | null> {
  const rows = await db.$queryRaw<{ state: string }[]>`
    UPDATE task_instance SET
      state = CASE WHEN ${input.outcome} IN ('success', 'skipped') THEN ${input.outcome}
                   WHEN try_number <= max_tries THEN 'up_for_retry' ELSE 'failed' END,
      next_retry_at = CASE WHEN ${input.outcome} = 'failed' AND try_number <= max_tries
                           THEN now() + (${input.retryDelaySeconds}::float8 * interval '1 second') END,
      end_date = now(),
      start_date = COALESCE(start_date, now()),
      duration = EXTRACT(EPOCH FROM (now() - COALESCE(start_date, now()))),
      last_heartbeat_at = NULL,
      updated_at = now()
    WHERE id = ${input.id}::uuid AND state IN ('queued', 'running')
      AND queued_by_job_id = ${input.jobId} AND try_number = ${input.tryNumber}
    RETURNING state`;
  return rows[0]?.state ?? null;
}

/**
 * The process of a try that was taken from us (cleared, marked, removed, handed back) has ended:
 * clear its heartbeat so the instance may be claimed again. Touches only that try of this job in a
 * state no executor owns; true if it did.
 */
export async function releaseTaskInstanceTry(
  db: Db,
  input: { id: string; jobId: number; tryNumber: number },
): Promise<boolean> {
  const count = await db.$executeRaw`
    UPDATE task_instance SET last_heartbeat_at = NULL
    WHERE id = ${input.id}::uuid AND queued_by_job_id = ${input.jobId} AND try_number = ${input.tryNumber}
      AND last_heartbeat_at IS NOT NULL AND (state IS NULL OR state NOT IN ('queued', 'running'))`;
  return count > 0;
}

/** One try of one task instance, as an executor runs it. */
export interface TryRef {
  id: string;
  tryNumber: number;
}

/** `id#tryNumber`: how the executor and its heartbeat name a try. */
export function tryKey(ref: TryRef): string {
  return `${ref.id}#${ref.tryNumber}`;
}

/**
 * Heartbeats this job's live tries, whatever their instances' state (a try taken away keeps
 * beating until its process is gone, so nobody claims the instance beside it). Returns the keys
 * (`tryKey`) of the tries still ours: same try number, queued or running. A try missing from the
 * answer was taken away (marked by an operator, cleared, timed out, removed) and its process
 * should be stopped.
 */
export async function heartbeatTaskInstances(
  db: Db,
  input: { jobId: number; tries: readonly TryRef[] },
): Promise<Set<string>> {
  if (input.tries.length === 0) return new Set();
  const ids = input.tries.map((t) => t.id);
  const tries = input.tries.map((t) => t.tryNumber);
  const rows = await db.$queryRaw<{ id: string; tryNumber: number; state: string | null }[]>`
    UPDATE task_instance ti SET last_heartbeat_at = now()
    FROM unnest(${ids}::uuid[], ${tries}::int[]) AS x(id, try_number)
    WHERE ti.id = x.id AND ti.try_number = x.try_number AND ti.queued_by_job_id = ${input.jobId}
      AND ti.last_heartbeat_at IS NOT NULL -- a released try stays released
    RETURNING ti.id::text AS id, ti.try_number AS "tryNumber", ti.state`;
  return new Set(
    rows.filter((row) => row.state === 'queued' || row.state === 'running').map(tryKey),
  );
}

/**
 * Gives instances back without counting the try against them (a scheduler shutting down, task
 * logs that cannot be written): they become `scheduled` for any scheduler to claim, with one more
 * try allowed, once the process is gone (`releaseTaskInstanceTry`) or this job has ended. The try
 * handed back stays accounted for: it passes through state null first, so the
 * task_instance_history trigger archives it as it does a cleared try (as Airflow records a reset
 * orphan's try before resetting it), and a `handed back` event naming `reason` goes to the event
 * log, in the same transaction. Returns the ids handed back.
 */
export async function handBackTaskInstances(
  prisma: PrismaClient,
  input: { jobId: number; ids: readonly string[]; reason: string },
): Promise<string[]> {
  if (input.ids.length === 0) return [];
  return prisma.$transaction(async (tx) => {
    const ended = await tx.$queryRaw<
      Pick<ClaimedTaskInstance, 'id' | 'dagId' | 'runId' | 'taskId' | 'mapIndex' | 'tryNumber'>[]
    >`
      UPDATE task_instance SET state = NULL, end_date = now(), updated_at = now()
      WHERE id = ANY(${[...input.ids]}::uuid[]) AND state IN ('queued', 'running')
        AND queued_by_job_id = ${input.jobId}
      RETURNING id::text AS id, dag_id AS "dagId", run_id AS "runId", task_id AS "taskId",
                map_index AS "mapIndex", try_number AS "tryNumber"`;
    if (ended.length === 0) return [];
    await tx.$executeRaw`
      UPDATE task_instance SET state = 'scheduled', max_tries = max_tries + 1, pid = NULL,
                               hostname = NULL, scheduled_dttm = now(), updated_at = now()
      WHERE id = ANY(${ended.map((row) => row.id)}::uuid[])`;
    for (const { id: _id, ...ti } of ended)
      await recordEvent(tx, {
        event: 'handed back',
        owner: 'scheduler',
        ...ti,
        extra: { reason: input.reason, job_id: input.jobId },
      });
    return ended.map((row) => row.id);
  });
}

export interface TimedOutTaskInstance {
  id: string;
  dagId: string;
  runId: string;
  taskId: string;
  versionId: string | null;
  tryNumber: number;
}

/**
 * Queued or running instances nobody looks after: heartbeat older than `timeoutSeconds`, or
 * queued by a job that is no longer running.
 */
export async function findTimedOutTaskInstances(
  db: Db,
  input: { timeoutSeconds: number; limit: number },
): Promise<TimedOutTaskInstance[]> {
  return db.$queryRaw<TimedOutTaskInstance[]>`
    SELECT ti.id::text AS id, ti.dag_id AS "dagId", ti.run_id AS "runId", ti.task_id AS "taskId",
           ti.dag_version_id::text AS "versionId", ti.try_number AS "tryNumber"
    FROM task_instance ti
    LEFT JOIN job j ON j.id = ti.queued_by_job_id
    WHERE ti.state IN ('queued', 'running')
      AND (ti.last_heartbeat_at IS NULL
           OR ti.last_heartbeat_at < now() - (${input.timeoutSeconds}::float8 * interval '1 second')
           OR j.id IS NULL OR j.state <> 'running')
    ORDER BY ti.last_heartbeat_at NULLS FIRST
    LIMIT ${input.limit}`;
}

/**
 * Fails or retries timed-out instances (retry if tries are left, after the task's retry delay).
 * The staleness test is repeated in the UPDATE, so an instance that heartbeated meanwhile, or
 * that another scheduler handled first, is left alone. Returns the instances changed.
 */
export async function failOrRetryTimedOut(
  db: Db,
  input: {
    timeoutSeconds: number;
    items: readonly { id: string; tryNumber: number; retryDelaySeconds: number }[];
  },
): Promise<{ id: string; state: 'failed' | 'up_for_retry' }[]> {
  if (input.items.length === 0) return [];
  const ids = input.items.map((item) => item.id);
  const tries = input.items.map((item) => item.tryNumber);
  const delays = input.items.map((item) => item.retryDelaySeconds);
  return db.$queryRaw<{ id: string; state: 'failed' | 'up_for_retry' }[]>`
    UPDATE task_instance ti SET
      state = CASE WHEN ti.try_number <= ti.max_tries THEN 'up_for_retry' ELSE 'failed' END,
      next_retry_at = CASE WHEN ti.try_number <= ti.max_tries THEN now() + (x.delay * interval '1 second') END,
      end_date = now(), duration = EXTRACT(EPOCH FROM (now() - COALESCE(ti.start_date, now()))), updated_at = now()
    FROM unnest(${ids}::uuid[], ${tries}::int[], ${delays}::float8[]) AS x(id, try_number, delay)
    WHERE ti.id = x.id AND ti.try_number = x.try_number AND ti.state IN ('queued', 'running')
      AND (ti.last_heartbeat_at IS NULL
           OR ti.last_heartbeat_at < now() - (${input.timeoutSeconds}::float8 * interval '1 second')
           OR NOT EXISTS (SELECT 1 FROM job j WHERE j.id = ti.queued_by_job_id AND j.state = 'running'))
    RETURNING ti.id::text AS id, ti.state`;
}
