/**
 * DAG runs: created when their schedule comes due (with their task instances, state null, as
 * Airflow's create_dagrun), started (queued -> running) under `max_active_runs`, creating any
 * task instance still missing in the same transaction.
 */
import type { DueDag as TimetableDag } from '@dagbag/dagbag';
import type { PrismaClient } from '../../client.ts';
import { hasImportErrorsSql } from '../dag-files.ts';
import { latestVersionIdSql, runVersionIdSql } from '../dag-versions/latest.ts';
import { setNextDagrun, type NextDagrun } from '../next-dagrun.ts';
import {
  createRunTaskInstances,
  insertTaskInstances,
  type VersionSource,
} from '../run-task-instances.ts';
import type { TaskSpec } from './types.ts';

/** A DAG row whose next scheduled run is due (the timetable's DueDag, with its id). */
export interface DueDag extends TimetableDag {
  dagId: string;
}

export interface CreatedRun {
  dagId: string;
  runId: string;
  logicalDate: Date;
}

/** `scheduled__2026-01-01T00:00:00+00:00`: Airflow's run id for scheduled runs. */
export function scheduledRunId(logicalDate: Date): string {
  return `scheduled__${logicalDate.toISOString().replace(/\.\d{3}Z$/, '+00:00')}`;
}

/**
 * Creates one run per due DAG (`next_dagrun_create_after <= now`, not paused, not stale, no import
 * error for its file, below max_active_runs) and
 * advances the DAG's `next_dagrun_*` with what `nextAfter` says. `triggered_by` is Airflow's
 * `timetable`. DAG rows are locked with SKIP
 * LOCKED, so two schedulers never create the same run; the run's unique key is the backstop.
 */
export async function createDueScheduledRuns(
  prisma: PrismaClient,
  input: {
    now: Date;
    limit: number;
    /**
     * The interval to run now: the stored one, or (catchup off) a later one the stored one missed.
     */
    intervalToRun: (dag: DueDag) => NextDagrun;
    nextAfter: (dag: DueDag) => NextDagrun | null;
    /**
     * The DAG versions whose tasks the new runs' instances are: ones already in memory (the
     * scheduler's cache, without loading). A version it does not give is loaded when the run
     * starts, which creates the missing instances.
     */
    versions: VersionSource;
  },
): Promise<CreatedRun[]> {
  return prisma.$transaction(async (tx) => {
    const due = await tx.$queryRaw<DueDag[]>`
      SELECT dag_id AS "dagId", timetable_summary AS schedule, start_date AS "startDate", timezone, catchup,
             next_dagrun_logical_date AS "logicalDate",
             next_dagrun_data_interval_start AS "dataIntervalStart",
             next_dagrun_data_interval_end AS "dataIntervalEnd",
             next_dagrun_create_after AS "createAfter"
      FROM dag
      WHERE NOT is_stale AND NOT is_paused AND timetable_summary IS NOT NULL
        -- As Airflow's dags_needing_dagruns: none while the DAG's file has an import error (its
        -- runs already created go on); once fixed, the schedule resumes under its catchup rule.
        AND NOT ${hasImportErrorsSql('dag')}
        AND next_dagrun_create_after <= ${input.now}
        AND next_dagrun_logical_date IS NOT NULL
        -- At max_active_runs (queued and running runs, as Airflow counts them) no run is created;
        -- next_dagrun_* stay, and the run comes once a place is free.
        AND (SELECT count(*) FROM dag_run r WHERE r.dag_id = dag.dag_id AND r.state IN ('queued', 'running')) < max_active_runs
      ORDER BY next_dagrun_create_after
      LIMIT ${input.limit}
      FOR UPDATE SKIP LOCKED`;
    const created: CreatedRun[] = [];
    for (const stored of due) {
      const dag: DueDag = { ...stored, ...input.intervalToRun(stored) };
      const runId = scheduledRunId(dag.logicalDate);
      const inserted = await tx.$queryRaw<{ versionId: string | null }[]>`
        INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, run_after, data_interval_start,
                             data_interval_end, queued_at, triggered_by, created_dag_version_id, conf, updated_at)
        SELECT ${dag.dagId}, ${runId}, 'queued', 'scheduled', ${dag.logicalDate}, ${dag.createAfter},
               ${dag.dataIntervalStart}, ${dag.dataIntervalEnd}, now(), 'timetable',
               ${latestVersionIdSql({ value: dag.dagId })},
               '{}'::jsonb, now()
        -- Either key may be taken: the run id, or the logical date (by a run triggered with it).
        ON CONFLICT DO NOTHING
        RETURNING created_dag_version_id::text AS "versionId"`;
      const versionId = inserted[0]?.versionId;
      if (inserted.length > 0)
        created.push({ dagId: dag.dagId, runId, logicalDate: dag.logicalDate });
      if (versionId != null)
        await createRunTaskInstances(tx, {
          dagId: dag.dagId,
          runId,
          versionId,
          versions: input.versions,
          // A stale cached definition is dropped and asked for again: not held, it is not used.
          loadInTransaction: true,
        });
      await setNextDagrun(tx, dag.dagId, input.nextAfter(dag));
    }
    return created;
  }, CREATE_RUNS_TRANSACTION);
}

/**
 * Up to `limit` DAGs' runs and instances in one transaction: more room than the client's default
 * (one statement's); the wait for a connection stays the pool's.
 */
const CREATE_RUNS_TRANSACTION = { timeout: 60_000 };

/** Queued runs waiting to start, grouped by DAG, with the version each will start on. */
export interface QueuedRunVersions {
  dagId: string;
  versionIds: string[];
}

/**
 * Which DAG versions the queued runs need: the app loads them (through the DAG cache) first. Only
 * DAGs below max_active_runs are listed, oldest queued run first: DAGs that cannot start a run
 * would otherwise fill the `limit` and starve the others. A run whose `run_after` is still ahead
 * waits for it, as in Airflow (a client may trigger one for later).
 */
export async function queuedRunVersions(
  prisma: PrismaClient,
  limit: number,
): Promise<QueuedRunVersions[]> {
  const rows = await prisma.$queryRaw<{ dagId: string; versionIds: (string | null)[] }[]>`
    SELECT r.dag_id AS "dagId",
           array_agg(DISTINCT ${runVersionIdSql('r')}::text) AS "versionIds"
    FROM dag_run r
    JOIN dag d ON d.dag_id = r.dag_id
    WHERE r.state = 'queued' AND r.run_after <= now() AND NOT d.is_paused AND NOT d.is_stale
      -- A DAG already at max_active_runs cannot start anything: it must not take a place here.
      AND (SELECT count(*) FROM dag_run x WHERE x.dag_id = r.dag_id AND x.state = 'running') < d.max_active_runs
    GROUP BY r.dag_id
    ORDER BY min(r.run_after)
    LIMIT ${limit}`;
  return rows.map((row) => ({
    dagId: row.dagId,
    versionIds: row.versionIds.filter((id): id is string => id !== null),
  }));
}

/** A version's tasks as the caller read them, with the hash of the definition they came from. */
export interface VersionTasks {
  dagHash: string;
  tasks: readonly TaskSpec[];
}

export interface StartedRuns {
  started: StartedRun[];
  /** Versions whose stored definition differs from the one given: reload them and try again. */
  staleVersionIds: string[];
}

export interface StartedRun {
  id: number;
  dagId: string;
  runId: string;
  versionId: string;
}

/**
 * Moves queued runs of one DAG to running, oldest first, while fewer than `max_active_runs` run,
 * and creates those of their task instances that do not exist yet (one per task, `map_index` -1,
 * state null, `max_tries` = retries) with ON CONFLICT DO NOTHING: the instances made with the run
 * (perhaps patched or cleared since) and a cleared run's keep their states and tries.
 * The DAG row is locked (SKIP LOCKED): schedulers starting runs of one DAG take turns, so the
 * limit holds across schedulers. Runs whose version has no tasks in `tasksByVersion`, or whose
 * stored definition is not the one given (updated in place meanwhile), wait.
 */
export async function startQueuedRuns(
  prisma: PrismaClient,
  input: { dagId: string; tasksByVersion: ReadonlyMap<string, VersionTasks> },
): Promise<StartedRuns> {
  return prisma.$transaction(async (tx) => {
    const dags = await tx.$queryRaw<{ maxActiveRuns: number; running: number }[]>`
      SELECT d.max_active_runs AS "maxActiveRuns",
             (SELECT count(*)::int FROM dag_run r WHERE r.dag_id = d.dag_id AND r.state = 'running') AS running
      FROM dag d WHERE d.dag_id = ${input.dagId} AND NOT d.is_paused AND NOT d.is_stale
      FOR UPDATE SKIP LOCKED`;
    const dag = dags[0];
    if (!dag) return { started: [], staleVersionIds: [] };
    const slots = dag.maxActiveRuns - dag.running;
    if (slots <= 0) return { started: [], staleVersionIds: [] };
    const candidates = await tx.$queryRaw<
      { id: number; runId: string; versionId: string | null }[]
    >`
      SELECT r.id, r.run_id AS "runId",
             ${runVersionIdSql('r')}::text AS "versionId"
      FROM dag_run r
      WHERE r.dag_id = ${input.dagId} AND r.state = 'queued' AND r.run_after <= now()
      ORDER BY r.run_after, r.id
      LIMIT ${slots}
      FOR UPDATE SKIP LOCKED`;
    // The definitions given must be the ones stored now: a version updated in place since the
    // caller's cache read it would start tasks of the old definition. FOR SHARE holds off an
    // in-place update until these runs' task instances exist (then it makes a new version).
    const versionIds = [...new Set(candidates.map((run) => run.versionId))].filter(
      (id): id is string => id !== null && input.tasksByVersion.has(id),
    );
    const stored =
      versionIds.length === 0
        ? []
        : await tx.$queryRaw<{ versionId: string; dagHash: string }[]>`
            SELECT dag_version_id::text AS "versionId", dag_hash AS "dagHash" FROM serialized_dag
            WHERE dag_version_id = ANY(${versionIds}::uuid[])
            FOR SHARE`;
    const storedHash = new Map(stored.map((row) => [row.versionId, row.dagHash]));
    const staleVersionIds = versionIds.filter(
      (id) => storedHash.get(id) !== input.tasksByVersion.get(id)!.dagHash,
    );
    const started: StartedRun[] = [];
    // Runs starting on one version: one UPDATE and one INSERT for all of them.
    const byVersion = new Map<
      string,
      { tasks: readonly TaskSpec[]; ids: number[]; runIds: string[] }
    >();
    for (const run of candidates) {
      const given = run.versionId === null ? undefined : input.tasksByVersion.get(run.versionId);
      if (run.versionId === null || given === undefined) continue;
      if (storedHash.get(run.versionId) !== given.dagHash) continue; // waits for a fresh read
      let group = byVersion.get(run.versionId);
      if (group === undefined)
        byVersion.set(run.versionId, (group = { tasks: given.tasks, ids: [], runIds: [] }));
      group.ids.push(run.id);
      group.runIds.push(run.runId);
      started.push({ id: run.id, dagId: input.dagId, runId: run.runId, versionId: run.versionId });
    }
    for (const [versionId, group] of byVersion) {
      await tx.$executeRaw`
        UPDATE dag_run SET state = 'running', start_date = now(), end_date = NULL,
                           current_dag_version_id = ${versionId}::uuid,
                           created_dag_version_id = COALESCE(created_dag_version_id, ${versionId}::uuid),
                           last_scheduling_decision = NULL, updated_at = now()
        WHERE id = ANY(${group.ids}::int[])`;
      await insertTaskInstances(tx, {
        runs: group.runIds.map((runId) => ({ dagId: input.dagId, runId })),
        versionId,
        tasks: group.tasks,
      });
    }
    return { started, staleVersionIds };
  });
}
