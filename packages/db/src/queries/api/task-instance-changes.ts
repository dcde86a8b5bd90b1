/**
 * The API's changes to task instances: set state (Airflow's `set_task_instance_state`), clear
 * (Airflow's `dag.clear` + `clear_task_instances`) and delete. Which tasks a change reaches
 * (upstream/downstream relatives) is the caller's to compute from the DAG; this file selects and
 * writes rows. Every write locks what it changes, so it serializes with the scheduler's
 * state-conditional updates.
 */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import { transaction } from './common.ts';
import type { RetriesOf } from './dag-runs.ts';
import { recordChangeEvent, type ChangeEvent, type NewEvent } from './event-logs.ts';
import {
  TASK_INSTANCE_COLUMNS,
  toTaskInstanceRow,
  type TaskInstanceRecord,
  type TaskInstanceRow,
} from './task-instances.ts';
import type { TaskInstanceKey } from './task-instance-tries.ts';

type Db = PrismaClient | Prisma.TransactionClient;

/** Task instances of some tasks in some runs of one DAG. */
export interface TaskInstanceSelection {
  dagId: string;
  runIds: readonly string[];
  taskIds: readonly string[];
  /** Undefined: every map index. */
  mapIndex?: number;
}

export interface StateChange {
  selection: TaskInstanceSelection;
  state: 'success' | 'failed' | 'skipped';
  /**
   * After the change, instances of these tasks in the same runs that are failed or
   * upstream_failed are cleared so they can run again (Airflow clears the changed task's
   * downstream this way). Empty: nothing is cleared.
   */
  resumeTaskIds: readonly string[];
  retriesOf: RetriesOf;
}

export interface ClearSelection {
  dagId: string;
  /** Undefined: runs chosen by `logicalDate` (or every run). */
  runIds?: readonly string[];
  /** Bounds on the runs' logical_date (inclusive). */
  logicalDate?: { gte?: Date; lte?: Date };
  /** Undefined: every task. */
  taskIds?: readonly string[];
  onlyFailed: boolean;
  onlyRunning: boolean;
}

const FROM_TI = Prisma.sql`
  FROM task_instance ti
  JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
  LEFT JOIN dag_version v ON v.id = ti.dag_version_id`;

function selectionSql(selection: TaskInstanceSelection): Prisma.Sql {
  const mapIndex =
    selection.mapIndex === undefined
      ? Prisma.empty
      : Prisma.sql`AND ti.map_index = ${selection.mapIndex}`;
  return Prisma.sql`ti.dag_id = ${selection.dagId} AND ti.run_id = ANY(${[...selection.runIds]}::text[])
    AND ti.task_id = ANY(${[...selection.taskIds]}::text[]) ${mapIndex}`;
}

async function readByIds(db: Db, ids: readonly string[]): Promise<TaskInstanceRow[]> {
  if (ids.length === 0) return [];
  const rows = await db.$queryRaw<TaskInstanceRecord[]>`
    SELECT ${TASK_INSTANCE_COLUMNS} ${FROM_TI}
    WHERE ti.id = ANY(${[...ids]}::uuid[])
    ORDER BY r.logical_date NULLS LAST, ti.run_id, ti.task_id, ti.map_index`;
  return rows.map(toTaskInstanceRow);
}

function clearSelectionSql(selection: ClearSelection): Prisma.Sql {
  const conditions = [Prisma.sql`ti.dag_id = ${selection.dagId}`];
  if (selection.taskIds)
    conditions.push(Prisma.sql`ti.task_id = ANY(${[...selection.taskIds]}::text[])`);
  if (selection.runIds)
    conditions.push(Prisma.sql`ti.run_id = ANY(${[...selection.runIds]}::text[])`);
  if (selection.logicalDate?.gte)
    conditions.push(Prisma.sql`r.logical_date >= ${selection.logicalDate.gte}`);
  if (selection.logicalDate?.lte)
    conditions.push(Prisma.sql`r.logical_date <= ${selection.logicalDate.lte}`);
  if (selection.onlyFailed) conditions.push(Prisma.sql`ti.state IN ('failed', 'upstream_failed')`);
  if (selection.onlyRunning) conditions.push(Prisma.sql`ti.state = 'running'`);
  return Prisma.join(conditions, ' AND ');
}

/**
 * Locks the runs whose instances a change is about to lock, in id order, before it locks any
 * instance: the order of the scheduler (it locks runs, then writes their instances) and of a run's
 * PATCH and clear. A change holding instances while it waited for their run (to queue it again)
 * deadlocked with them. `where` selects over `ti` and `r` (its run).
 */
async function lockRunsOf(tx: Prisma.TransactionClient, dagId: string, where: Prisma.Sql) {
  await tx.$queryRaw`
    SELECT r.id FROM dag_run r
    WHERE r.dag_id = ${dagId} AND EXISTS (
      SELECT 1 FROM task_instance ti WHERE ti.dag_id = r.dag_id AND ti.run_id = r.run_id AND ${where})
    ORDER BY r.id FOR UPDATE OF r`;
}

/**
 * Puts runs back to queued for the scheduler, as a clear does: dates and scheduling decision
 * reset, clear_number raised (Airflow's run identity for task tries).
 */
export async function queueRunsAgain(
  tx: Prisma.TransactionClient,
  runs: readonly { dagId: string; runId: string }[],
): Promise<void> {
  if (runs.length === 0) return;
  await tx.$executeRaw`
    UPDATE dag_run SET state = 'queued', queued_at = now(), start_date = NULL, end_date = NULL,
      last_scheduling_decision = NULL, clear_number = clear_number + 1, updated_at = now()
    WHERE (dag_id, run_id) IN (
      SELECT * FROM unnest(${runs.map((r) => r.dagId)}::text[], ${runs.map((r) => r.runId)}::text[]))`;
}

/**
 * The retries of every (version, task) that the instances `where` selects (over `ti` and its run
 * `r`) use, looked up now, before the change's transaction. Looking them up inside it loaded a
 * version missing from the DAG cache through the same pool while holding the run's lock: with
 * every pooled connection taken by requests waiting for that lock (a dozen concurrent clears and
 * PATCHes of one run), the holder waited for a connection that none would free, and the API hung
 * until the pool's timeout. The answer falls back to `retriesOf` for an instance created since.
 */
export async function retriesAhead(
  prisma: PrismaClient,
  where: Prisma.Sql,
  retriesOf: RetriesOf,
): Promise<RetriesOf> {
  const pairs = await prisma.$queryRaw<{ version_id: string | null; task_id: string }[]>`
    SELECT DISTINCT ti.dag_version_id::text AS version_id, ti.task_id
    FROM task_instance ti JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
    WHERE ${where}`;
  const key = (versionId: string | null, taskId: string) => `${versionId}\u0000${taskId}`;
  const known = new Map<string, number | undefined>();
  for (const pair of pairs)
    known.set(key(pair.version_id, pair.task_id), await retriesOf(pair.version_id, pair.task_id));
  return (versionId, taskId) => {
    const found = key(versionId, taskId);
    return known.has(found) ? Promise.resolve(known.get(found)) : retriesOf(versionId, taskId);
  };
}

/**
 * Airflow's clear_task_instances: each instance gets state null and `max_tries = try_number +
 * retries` (the try number is kept; the next try counts on), and with `resetRuns` their runs are
 * queued again. The try an instance held is archived by the task_instance_history trigger.
 */
export async function clearInstances(
  tx: Prisma.TransactionClient,
  instances: readonly TaskInstanceRow[],
  options: { retriesOf: RetriesOf; resetRuns: boolean },
): Promise<void> {
  if (instances.length === 0) return;
  const ids: string[] = [];
  const maxTries: number[] = [];
  for (const ti of instances) {
    const retries = await options.retriesOf(ti.dagVersionId, ti.taskId);
    ids.push(ti.id);
    maxTries.push(
      retries === undefined ? Math.max(ti.maxTries, ti.tryNumber) : ti.tryNumber + retries,
    );
  }
  await tx.$executeRaw`
    UPDATE task_instance ti SET state = NULL, max_tries = x.max_tries, end_date = NULL,
      next_retry_at = NULL, updated_at = now()
    FROM unnest(${ids}::uuid[], ${maxTries}::int[]) AS x(id, max_tries)
    WHERE ti.id = x.id`;
  if (!options.resetRuns) return;
  const runs = new Map(instances.map((ti) => [`${ti.dagId}\u0000${ti.runId}`, ti]));
  await queueRunsAgain(tx, [...runs.values()]);
}

export function createTaskInstanceChangeQueries(prisma: PrismaClient) {
  return {
    /**
     * The runs a state change with `past`/`future` reaches: the run itself, and the DAG's runs
     * with a logical date before/after its own (a run without a logical date reaches only
     * itself). Null if the run does not exist.
     */
    async runsAround(
      dagId: string,
      runId: string,
      options: { past: boolean; future: boolean },
    ): Promise<string[] | null> {
      const rows = await prisma.$queryRaw<{ run_id: string }[]>`
        WITH self AS (SELECT logical_date FROM dag_run WHERE dag_id = ${dagId} AND run_id = ${runId})
        SELECT r.run_id FROM dag_run r, self
        WHERE r.dag_id = ${dagId} AND (r.run_id = ${runId} OR (
          self.logical_date IS NOT NULL AND r.logical_date IS NOT NULL
          AND (${options.past} OR r.logical_date >= self.logical_date)
          AND (${options.future} OR r.logical_date <= self.logical_date)))
        ORDER BY r.logical_date NULLS LAST, r.run_id`;
      return rows.length === 0 ? null : rows.map((row) => row.run_id);
    },

    /**
     * What a state change would alter (its dry run): the selected instances not yet in the state.
     */
    async taskInstancesToSet(
      selection: TaskInstanceSelection,
      state: string,
    ): Promise<TaskInstanceRow[]> {
      const rows = await prisma.$queryRaw<TaskInstanceRecord[]>`
        SELECT ${TASK_INSTANCE_COLUMNS} ${FROM_TI}
        WHERE ${selectionSql(selection)} AND ti.state IS DISTINCT FROM ${state}
        ORDER BY r.logical_date NULLS LAST, ti.run_id, ti.task_id, ti.map_index`;
      return rows.map(toTaskInstanceRow);
    },

    /**
     * Airflow's PATCH of the task instance `key`, in one transaction with its audit `event`. A
     * `state` change sets the state of the selected instances not yet in it (start_date kept or
     * now, end_date kept or now, duration between), then clears `resumeTaskIds` instances that are
     * failed or upstream_failed in the same runs (their runs are queued again); when it alters no
     * instance nothing else happens (no note, no event) and the answer is 'unchanged'. Then the
     * `note` is set and the event written. 'not_found' (nothing changed, no event) when `key` was
     * deleted before the change could lock it: the caller read it, but a concurrent DELETE won.
     */
    async patchTaskInstances(
      key: TaskInstanceKey,
      patch: { state?: StateChange; note?: { note: string | null } },
      event?: NewEvent,
    ): Promise<'patched' | 'unchanged' | 'not_found'> {
      const change =
        patch.state && patch.state.resumeTaskIds.length > 0
          ? {
              ...patch.state,
              retriesOf: await retriesAhead(prisma, resumeSql(patch.state), patch.state.retriesOf),
            }
          : patch.state;
      try {
        return await transaction(prisma, async (tx) => {
          if (change) {
            const altered = await setState(tx, change);
            // Not "already in that state" when it is gone: the change's other instances undone.
            if (!(await instanceExists(tx, key))) throw new InstanceGone();
            if (altered === 0) return 'unchanged';
          }
          if (patch.note) {
            const noted = await tx.$executeRaw`
              UPDATE task_instance SET note = ${patch.note.note}, updated_at = now()
              WHERE dag_id = ${key.dagId} AND run_id = ${key.runId} AND task_id = ${key.taskId}
                AND map_index = ${key.mapIndex}`;
            if (noted === 0) throw new InstanceGone();
          }
          await recordChangeEvent(tx, event, null);
          return 'patched';
        });
      } catch (error) {
        if (error instanceof InstanceGone) return 'not_found';
        throw error;
      }
    },

    /** The instances a clear would reset (its dry run). */
    async taskInstancesToClearAcross(selection: ClearSelection): Promise<TaskInstanceRow[]> {
      const rows = await prisma.$queryRaw<TaskInstanceRecord[]>`
        SELECT ${TASK_INSTANCE_COLUMNS} ${FROM_TI}
        WHERE ${clearSelectionSql(selection)}
        ORDER BY r.logical_date NULLS LAST, ti.run_id, ti.task_id, ti.map_index`;
      return rows.map(toTaskInstanceRow);
    },

    /**
     * Clears the selected instances, with the audit `event` in the same transaction; returns them
     * as they are afterwards.
     */
    async clearTaskInstancesAcross(
      selection: ClearSelection,
      options: { retriesOf: RetriesOf; resetRuns: boolean },
      event?: ChangeEvent<TaskInstanceRow[]>,
    ): Promise<TaskInstanceRow[]> {
      const retriesOf = await retriesAhead(prisma, clearSelectionSql(selection), options.retriesOf);
      return transaction(prisma, async (tx) => {
        await lockRunsOf(tx, selection.dagId, clearSelectionSql(selection));
        const rows = await tx.$queryRaw<TaskInstanceRecord[]>`
          SELECT ${TASK_INSTANCE_COLUMNS} ${FROM_TI}
          WHERE ${clearSelectionSql(selection)}
          ORDER BY r.logical_date NULLS LAST, ti.run_id, ti.task_id, ti.map_index
          FOR UPDATE OF ti`;
        const instances = rows.map(toTaskInstanceRow);
        await clearInstances(tx, instances, { ...options, retriesOf });
        const cleared = await readByIds(
          tx,
          instances.map((ti) => ti.id),
        );
        await recordChangeEvent(tx, event, cleared);
        return cleared;
      });
    },

    /**
     * Deletes one task instance (with its history), with its audit `event` (if any) in the same
     * transaction; false (and no event) if there was none.
     */
    async deleteTaskInstance(key: TaskInstanceKey, event?: NewEvent): Promise<boolean> {
      return transaction(prisma, async (tx) => {
        const deleted = await tx.$executeRaw`
          DELETE FROM task_instance WHERE dag_id = ${key.dagId} AND run_id = ${key.runId}
            AND task_id = ${key.taskId} AND map_index = ${key.mapIndex}`;
        if (deleted === 0) return false;
        await recordChangeEvent(tx, event, null);
        return true;
      });
    },
  };
}

/** The instances a state change may clear to resume (see StateChange.resumeTaskIds). */
function resumeSql(change: StateChange): Prisma.Sql {
  return Prisma.sql`ti.dag_id = ${change.selection.dagId}
    AND ti.run_id = ANY(${[...change.selection.runIds]}::text[])
    AND ti.task_id = ANY(${[...change.resumeTaskIds]}::text[])`;
}

/** Rolls a PATCH back: the instance it names was deleted by a concurrent request. */
class InstanceGone extends Error {
  override readonly name = 'InstanceGone';
}

async function instanceExists(tx: Prisma.TransactionClient, key: TaskInstanceKey) {
  const rows = await tx.$queryRaw<{ found: number }[]>`
    SELECT 1 AS found FROM task_instance WHERE dag_id = ${key.dagId} AND run_id = ${key.runId}
      AND task_id = ${key.taskId} AND map_index = ${key.mapIndex}`;
  return rows.length > 0;
}

/** The state change of a PATCH in `tx` (see patchTaskInstances); the count of altered instances. */
async function setState(tx: Prisma.TransactionClient, change: StateChange): Promise<number> {
  await lockRunsOf(tx, change.selection.dagId, selectionSql(change.selection));
  const altered = await tx.$queryRaw<{ id: string; run_id: string }[]>`
    UPDATE task_instance ti SET state = ${change.state},
      start_date = COALESCE(ti.start_date, now()), end_date = COALESCE(ti.end_date, now()),
      duration = EXTRACT(EPOCH FROM (COALESCE(ti.end_date, now()) - COALESCE(ti.start_date, now()))),
      next_retry_at = NULL, updated_at = now()
    WHERE ti.id IN (
      SELECT ti.id FROM task_instance ti
      WHERE ${selectionSql(change.selection)} AND ti.state IS DISTINCT FROM ${change.state}
      ORDER BY ti.id FOR UPDATE)
    RETURNING ti.id::text AS id, ti.run_id`;
  if (altered.length > 0 && change.resumeTaskIds.length > 0) {
    const runIds = [...new Set(altered.map((row) => row.run_id))];
    const toResume = await tx.$queryRaw<TaskInstanceRecord[]>`
      SELECT ${TASK_INSTANCE_COLUMNS} ${FROM_TI}
      WHERE ti.dag_id = ${change.selection.dagId} AND ti.run_id = ANY(${runIds}::text[])
        AND ti.task_id = ANY(${[...change.resumeTaskIds]}::text[])
        AND ti.state IN ('failed', 'upstream_failed')
      ORDER BY ti.id FOR UPDATE OF ti`;
    await clearInstances(tx, toResume.map(toTaskInstanceRow), {
      retriesOf: change.retriesOf,
      resetRuns: true,
    });
  }
  return altered.length;
}
