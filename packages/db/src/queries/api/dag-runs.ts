/**
 * dag_run reads and the API's writes: trigger (the run with its task instances, as Airflow), state
 * patch, clear and delete.
 */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import {
  orderBySql,
  containsPatternSql,
  timeRangeSql,
  dateColumn,
  countRows,
  listingSource,
  walksPrimaryKey,
  listingTotal,
  transaction,
  whereSql,
  type Page,
  type Pagination,
  type SortKey,
  type TimeRange,
} from './common.ts';
import {
  createRunTaskInstances,
  StaleCachedVersionError,
  type VersionSource,
} from '../run-task-instances.ts';
import { unfinishedTaskStateSql } from '../states.ts';
import type { DagVersionSummary } from './dags.ts';
import { recordChangeEvent, type ChangeEvent, type NewEvent } from './event-logs.ts';
import { clearInstances, queueRunsAgain, retriesAhead } from './task-instance-changes.ts';
import {
  toTaskInstanceRow,
  TASK_INSTANCE_COLUMNS,
  type TaskInstanceRecord,
  type TaskInstanceRow,
} from './task-instances.ts';

export interface DagRunRow {
  id: number;
  dagId: string;
  runId: string;
  state: string;
  runType: string;
  logicalDate: Date | null;
  runAfter: Date;
  dataIntervalStart: Date | null;
  dataIntervalEnd: Date | null;
  queuedAt: Date | null;
  startDate: Date | null;
  endDate: Date | null;
  lastSchedulingDecision: Date | null;
  triggeredBy: string | null;
  /** Who triggered it through the API (the caller's name; see NewDagRun); null otherwise. */
  triggeringUserName: string | null;
  conf: Record<string, unknown> | null;
  note: string | null;
  createdDagVersionId: string | null;
  /**
   * The versions the run was created with and moved to, and those its task instances used, oldest
   * first.
   */
  dagVersions: DagVersionSummary[];
}

export type DagRunSortColumn =
  | 'id'
  | 'run_id'
  | 'state'
  | 'logical_date'
  | 'run_after'
  | 'start_date'
  | 'end_date'
  | 'queued_at'
  | 'updated_at'
  | 'dag_id'
  | 'duration'
  | 'conf';

export interface DagRunFilters extends Pagination {
  /** Undefined: runs of every DAG (Airflow's `~`). */
  dagId?: string;
  /** Runs of these DAGs only (the batch listing's `dag_ids`). */
  dagIds?: string[];
  runAfter?: TimeRange;
  logicalDate?: TimeRange;
  startDate?: TimeRange;
  endDate?: TimeRange;
  updatedAt?: TimeRange;
  runType?: string[];
  state?: string[];
  /** Substring, case-insensitive, `%` / `_` wildcards inside (Airflow's `run_id_pattern`). */
  runIdPattern?: string;
  /**
   * Airflow's GET listings compare a start or end date that is not set yet as now (an unfinished
   * one "ends" now, so `end_date_gte` finds what is still going); its batch bodies do not.
   */
  unsetDatesAsNow?: boolean;
  /** Airflow's `triggering_user_name_pattern`: who triggered the run through the API. */
  triggeringUserNamePattern?: string;
  orderBy: SortKey<DagRunSortColumn>[];
}

export interface NewDagRun {
  dagId: string;
  runId: string;
  logicalDate: Date | null;
  runAfter: Date;
  dataIntervalStart: Date | null;
  dataIntervalEnd: Date | null;
  conf: Record<string, unknown>;
  note: string | null;
  createdDagVersionId: string;
  queuedAt: Date;
  /** The caller as the API names it: `name` of a `name:token` entry, else `token:<fingerprint>`. */
  triggeringUserName: string | null;
}

/** What clearing a run needs to know about each task: its retries, looked up in the run's DAG. */
export type RetriesOf = (
  dagVersionId: string | null,
  taskId: string,
) => Promise<number | undefined>;

export const RUN_SORT_COLUMNS: Record<DagRunSortColumn, string> = {
  id: 'r.id',
  run_id: 'r.run_id',
  state: 'r.state',
  logical_date: 'r.logical_date',
  run_after: 'r.run_after',
  start_date: 'r.start_date',
  end_date: 'r.end_date',
  queued_at: 'r.queued_at',
  updated_at: 'r.updated_at',
  dag_id: 'r.dag_id',
  // Airflow's DagRun.duration: end_date - start_date (null while either is missing).
  duration: '(r.end_date - r.start_date)',
  conf: 'r.conf',
};

/** Sort keys whose column is NOT NULL (see orderBySql). */
export const RUN_NOT_NULL: ReadonlySet<DagRunSortColumn> = new Set([
  'id',
  'run_id',
  'state',
  'run_after',
  'updated_at',
  'dag_id',
  'conf',
]);

interface DagRunRecord {
  id: number;
  dag_id: string;
  run_id: string;
  state: string;
  run_type: string;
  logical_date: Date | null;
  run_after: Date;
  data_interval_start: Date | null;
  data_interval_end: Date | null;
  queued_at: Date | null;
  start_date: Date | null;
  end_date: Date | null;
  last_scheduling_decision: Date | null;
  triggered_by: string | null;
  triggering_user_name: string | null;
  conf: unknown;
  note: string | null;
  created_dag_version_id: string | null;
}

const RUN_COLUMNS = Prisma.sql`
  r.id, r.dag_id, r.run_id, r.state, r.run_type, r.logical_date, r.run_after, r.data_interval_start,
  r.data_interval_end, r.queued_at, r.start_date, r.end_date, r.last_scheduling_decision, r.triggered_by,
  r.triggering_user_name, r.conf, r.note, r.created_dag_version_id::text AS created_dag_version_id`;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function toRunRow(r: DagRunRecord, versions: DagVersionSummary[]): DagRunRow {
  return {
    id: r.id,
    dagId: r.dag_id,
    runId: r.run_id,
    state: r.state,
    runType: r.run_type,
    logicalDate: r.logical_date,
    runAfter: r.run_after,
    dataIntervalStart: r.data_interval_start,
    dataIntervalEnd: r.data_interval_end,
    queuedAt: r.queued_at,
    startDate: r.start_date,
    endDate: r.end_date,
    lastSchedulingDecision: r.last_scheduling_decision,
    triggeredBy: r.triggered_by,
    triggeringUserName: r.triggering_user_name,
    conf: isPlainObject(r.conf) ? r.conf : null,
    note: r.note,
    createdDagVersionId: r.created_dag_version_id,
    dagVersions: versions,
  };
}

type Db = PrismaClient | Prisma.TransactionClient;

/** The versions of many runs in one query: the runs' own and those their task instances used. */
async function versionsOfRuns(
  db: Db,
  runs: readonly DagRunRecord[],
): Promise<Map<number, DagVersionSummary[]>> {
  const result = new Map<number, DagVersionSummary[]>();
  if (runs.length === 0) return result;
  const ids = runs.map((r) => r.id);
  // A UNION of (run, version) pairs, each found through an index, then joined once to dag_version.
  const rows = await db.$queryRaw<
    { run_pk: number; id: string; dag_id: string; version_number: number; created_at: Date }[]
  >`
    SELECT used.run_pk, v.id::text AS id, v.dag_id, v.version_number, v.created_at
    FROM (
      SELECT r.id AS run_pk, r.created_dag_version_id AS version_id FROM dag_run r WHERE r.id = ANY(${ids}::int[])
      UNION
      SELECT r.id, r.current_dag_version_id FROM dag_run r WHERE r.id = ANY(${ids}::int[])
      UNION
      SELECT r.id, ti.dag_version_id FROM dag_run r
      JOIN task_instance ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
      WHERE r.id = ANY(${ids}::int[])
    ) used
    JOIN dag_version v ON v.id = used.version_id
    ORDER BY used.run_pk, v.version_number`;
  for (const row of rows) {
    const list = result.get(row.run_pk) ?? [];
    list.push({
      id: row.id,
      dagId: row.dag_id,
      versionNumber: row.version_number,
      createdAt: row.created_at,
    });
    result.set(row.run_pk, list);
  }
  return result;
}

/** Locks the run's row for the transaction (changes to one run are serialized); false if no run. */
async function lockRun(
  tx: Prisma.TransactionClient,
  dagId: string,
  runId: string,
): Promise<boolean> {
  const locked = await tx.$queryRaw<
    { id: number }[]
  >`SELECT id FROM dag_run WHERE dag_id = ${dagId} AND run_id = ${runId} FOR UPDATE`;
  return locked.length > 0;
}

async function readRun(db: Db, dagId: string, runId: string): Promise<DagRunRow | null> {
  const rows = await db.$queryRaw<DagRunRecord[]>`
    SELECT ${RUN_COLUMNS} FROM dag_run r WHERE r.dag_id = ${dagId} AND r.run_id = ${runId}`;
  const run = rows[0];
  if (!run) return null;
  const versions = await versionsOfRuns(db, rows);
  return toRunRow(run, versions.get(run.id) ?? []);
}

/** A new run's key is taken: its run id, or (Airflow's rule) its DAG's logical date. */
export class DuplicateDagRunError extends Error {
  override readonly name = 'DuplicateDagRunError';
  readonly dagId: string;
  readonly runId: string;
  readonly conflict: 'run_id' | 'logical_date';
  readonly logicalDate: Date | null;
  constructor(
    dagId: string,
    runId: string,
    conflict: 'run_id' | 'logical_date' = 'run_id',
    logicalDate: Date | null = null,
  ) {
    super(
      conflict === 'run_id'
        ? `DAG run ${runId} of DAG ${dagId} already exists`
        : `DAG ${dagId} already has a run with logical_date ${logicalDate?.toISOString()}: a DAG has one run per logical date; choose another logical_date (or null)`,
    );
    this.dagId = dagId;
    this.runId = runId;
    this.conflict = conflict;
    this.logicalDate = logicalDate;
  }
}

/**
 * A new run's DAG, or the version it was to be created with, was deleted before the run could be
 * created (a DELETE of the DAG committed first): there is nothing to trigger.
 */
export class DagRunParentGoneError extends Error {
  override readonly name = 'DagRunParentGoneError';
  readonly dagId: string;
  constructor(dagId: string) {
    super(`DAG ${dagId} was deleted before its run could be created`);
    this.dagId = dagId;
  }
}

/** Reloads of a version updated in place before a trigger creates its run without instances. */
const STALE_VERSION_ATTEMPTS = 3;

async function insertDagRun(
  prisma: PrismaClient,
  run: NewDagRun,
  versions: VersionSource,
  lastAttempt: boolean,
  event: ChangeEvent<DagRunRow> | undefined,
): Promise<DagRunRow> {
  return transaction(prisma, async (tx) => {
    // The DAG and the version, held (FOR KEY SHARE, as the foreign keys would) until the run is
    // in: a DELETE of the DAG that committed meanwhile leaves nothing to lock, which is a 404 to
    // the client, where the INSERT's foreign key violation was a 500.
    const parents = await tx.$queryRaw<{ found: number }[]>`
      SELECT 1 AS found FROM dag d JOIN dag_version v ON v.dag_id = d.dag_id
      WHERE d.dag_id = ${run.dagId} AND v.id = ${run.createdDagVersionId}::uuid
      FOR KEY SHARE`;
    if (parents.length === 0) throw new DagRunParentGoneError(run.dagId);
    const inserted = await tx.$queryRaw<{ id: number }[]>`
      INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, run_after, data_interval_start,
        data_interval_end, queued_at, conf, note, triggered_by, triggering_user_name, created_dag_version_id,
        updated_at)
      VALUES (${run.dagId}, ${run.runId}, 'queued', 'manual', ${run.logicalDate}, ${run.runAfter},
        ${run.dataIntervalStart}, ${run.dataIntervalEnd}, ${run.queuedAt}, ${JSON.stringify(run.conf)}::jsonb,
        ${run.note}, 'rest_api', ${run.triggeringUserName}, ${run.createdDagVersionId}::uuid, now())
      ON CONFLICT DO NOTHING
      RETURNING id`;
    if (inserted.length === 0) {
      // Nothing inserted: one of the two unique keys is taken. Say which (the run may have been
      // deleted meanwhile; then the logical date was the conflict, or the client retries).
      const sameId = await tx.$queryRaw<{ id: number }[]>`
        SELECT id FROM dag_run WHERE dag_id = ${run.dagId} AND run_id = ${run.runId}`;
      throw sameId.length > 0 || run.logicalDate === null
        ? new DuplicateDagRunError(run.dagId, run.runId)
        : new DuplicateDagRunError(run.dagId, run.runId, 'logical_date', run.logicalDate);
    }
    // `versions` answers from what was read before the transaction: "loading" here on the last
    // attempt finds the same stale entry, so nothing is created and nothing waits for the pool.
    await createRunTaskInstances(tx, {
      dagId: run.dagId,
      runId: run.runId,
      versionId: run.createdDagVersionId,
      versions,
      loadInTransaction: lastAttempt,
    });
    const created = await readRun(tx, run.dagId, run.runId);
    if (!created) throw new Error(`DAG run ${run.runId} vanished right after it was created`);
    // In the run's transaction: an event written after the commit could fail (a pool wait beyond
    // its timeout) and answer an error for a run that exists, which a client retries as a second.
    await recordChangeEvent(tx, event, created);
    return created;
  });
}

export function createDagRunQueries(prisma: PrismaClient) {
  return {
    async listDagRuns(filters: DagRunFilters): Promise<Page<DagRunRow>> {
      const conditions: Prisma.Sql[] = [];
      if (filters.dagId !== undefined) conditions.push(Prisma.sql`r.dag_id = ${filters.dagId}`);
      if (filters.dagIds !== undefined)
        conditions.push(Prisma.sql`r.dag_id = ANY(${filters.dagIds}::text[])`);
      conditions.push(...timeRangeSql('r.run_after', filters.runAfter));
      conditions.push(...timeRangeSql('r.logical_date', filters.logicalDate));
      conditions.push(...timeRangeSql(dateColumn('r.start_date', filters), filters.startDate));
      conditions.push(...timeRangeSql(dateColumn('r.end_date', filters), filters.endDate));
      conditions.push(...timeRangeSql('r.updated_at', filters.updatedAt));
      if (filters.runType?.length)
        conditions.push(Prisma.sql`r.run_type = ANY(${filters.runType}::text[])`);
      if (filters.state?.length)
        conditions.push(Prisma.sql`r.state = ANY(${filters.state}::text[])`);
      if (filters.runIdPattern !== undefined)
        conditions.push(containsPatternSql('r.run_id', filters.runIdPattern));
      if (filters.triggeringUserNamePattern !== undefined)
        conditions.push(
          containsPatternSql('r.triggering_user_name', filters.triggeringUserNamePattern),
        );
      const where = whereSql(conditions);
      const source = await listingSource(prisma, {
        table: 'dag_run',
        alias: 'r',
        where,
        indexedRange: filters.runAfter !== undefined && walksPrimaryKey(filters.orderBy),
      });
      const rows = await prisma.$queryRaw<DagRunRecord[]>`
        ${source.with}SELECT ${RUN_COLUMNS}
        FROM ${source.from}
        ${orderBySql(filters.orderBy, RUN_SORT_COLUMNS, 'r.id', RUN_NOT_NULL)}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total =
        source.total ??
        (await listingTotal(rows.length, filters, () =>
          countRows(prisma, Prisma.sql`FROM dag_run r ${where}`),
        ));
      const versions = await versionsOfRuns(prisma, rows);
      return { rows: rows.map((r) => toRunRow(r, versions.get(r.id) ?? [])), total };
    },

    getDagRun(dagId: string, runId: string): Promise<DagRunRow | null> {
      return readRun(prisma, dagId, runId);
    },

    /**
     * Inserts a queued manual run with its task instances (state null, from `versions`, as
     * Airflow's trigger), and its audit `event` when given, in one transaction; a taken
     * (dag_id, run_id) or (dag_id, logical_date) throws DuplicateDagRunError saying which; a DAG
     * (or that version of it) deleted meanwhile throws DagRunParentGoneError. The
     * version is read from `versions` before the transaction, never in it (see
     * createRunTaskInstances): when it was updated in place since, the transaction rolls back and
     * runs again with the version loaded anew; after that the run is created and the scheduler
     * creates its instances when it starts it.
     */
    async createDagRun(
      run: NewDagRun,
      versions: VersionSource,
      event?: ChangeEvent<DagRunRow>,
    ): Promise<DagRunRow> {
      for (let attempt = 1; ; attempt++) {
        const entry = await versions.get(run.createdDagVersionId);
        const held: VersionSource = {
          get: () => Promise.resolve(entry),
          invalidate: (versionId) => versions.invalidate(versionId),
        };
        try {
          return await insertDagRun(prisma, run, held, attempt === STALE_VERSION_ATTEMPTS, event);
        } catch (error) {
          if (!(error instanceof StaleCachedVersionError)) throw error;
        }
      }
    },

    /**
     * Airflow's PATCH of a run's state: success marks every unfinished task instance success;
     * failed marks running ones failed and the other unfinished ones skipped; queued only
     * re-queues the run. A finished state sets end_date, queued clears it. Null: no change. Its
     * audit `event` is written in the same transaction; null (no such run) and no event.
     */
    async patchDagRun(
      dagId: string,
      runId: string,
      patch: { state?: 'queued' | 'success' | 'failed'; note?: string | null },
      event?: ChangeEvent<DagRunRow>,
    ): Promise<DagRunRow | null> {
      return transaction(prisma, async (tx) => {
        if (!(await lockRun(tx, dagId, runId))) return null;
        const now = new Date();
        if (patch.state === 'success') {
          await tx.$executeRaw`
            UPDATE task_instance ti SET state = 'success', end_date = ${now},
              start_date = COALESCE(ti.start_date, ${now}), updated_at = ${now}
            WHERE ti.dag_id = ${dagId} AND ti.run_id = ${runId} AND ${unfinishedTaskStateSql('ti.state')}`;
        } else if (patch.state === 'failed') {
          await tx.$executeRaw`
            UPDATE task_instance ti SET state = CASE WHEN ti.state = 'running' THEN 'failed' ELSE 'skipped' END,
              end_date = ${now}, start_date = COALESCE(ti.start_date, ${now}), updated_at = ${now}
            WHERE ti.dag_id = ${dagId} AND ti.run_id = ${runId} AND ${unfinishedTaskStateSql('ti.state')}`;
        }
        if (patch.state !== undefined) {
          const finished = patch.state !== 'queued';
          await tx.$executeRaw`
            UPDATE dag_run SET state = ${patch.state}, end_date = ${finished ? now : null},
              queued_at = CASE WHEN ${patch.state} = 'queued' THEN ${now}::timestamptz ELSE queued_at END,
              updated_at = ${now}
            WHERE dag_id = ${dagId} AND run_id = ${runId}`;
        }
        if (patch.note !== undefined) {
          await tx.$executeRaw`UPDATE dag_run SET note = ${patch.note}, updated_at = ${now} WHERE dag_id = ${dagId} AND run_id = ${runId}`;
        }
        return readRunRecording(tx, dagId, runId, event);
      });
    },

    /** Deletes the run, with its audit `event` in the same transaction; false if there was none. */
    async deleteDagRun(dagId: string, runId: string, event?: NewEvent): Promise<boolean> {
      return transaction(prisma, async (tx) => {
        const deleted = await tx.dagRun.deleteMany({ where: { dagId, runId } });
        if (deleted.count === 0) return false;
        await recordChangeEvent(tx, event, null);
        return true;
      });
    },

    /** The task instances clearing would reset (all, or only failed/upstream_failed ones). */
    async taskInstancesToClear(
      dagId: string,
      runId: string,
      onlyFailed: boolean,
    ): Promise<TaskInstanceRow[]> {
      return selectClearable(prisma, dagId, runId, onlyFailed, false);
    },

    /**
     * Airflow's clear: the task instances get state null and `max_tries = try_number + retries`
     * (try_number kept, so the next try is numbered on), and the run goes back to queued with
     * start/end dates and the scheduling decision reset and clear_number raised, and its audit
     * `event` is written in the same transaction. Null (and no event) if no run.
     */
    async clearDagRun(
      dagId: string,
      runId: string,
      options: { onlyFailed: boolean; retriesOf: RetriesOf },
      event?: ChangeEvent<DagRunRow>,
    ): Promise<DagRunRow | null> {
      // Looked up before the run is locked (see retriesAhead).
      const retriesOf = await retriesAhead(
        prisma,
        Prisma.sql`ti.dag_id = ${dagId} AND ti.run_id = ${runId}`,
        options.retriesOf,
      );
      return transaction(prisma, async (tx) => {
        if (!(await lockRun(tx, dagId, runId))) return null;
        const instances = await selectClearable(tx, dagId, runId, options.onlyFailed, true);
        await clearInstances(tx, instances, { retriesOf, resetRuns: false });
        // The run is queued again even when nothing needed clearing, as Airflow's clear_dag_run.
        await queueRunsAgain(tx, [{ dagId, runId }]);
        return readRunRecording(tx, dagId, runId, event);
      });
    },
  };
}

/** The run as a change in `tx` left it, with the change's audit `event` written in `tx`. */
async function readRunRecording(
  tx: Db,
  dagId: string,
  runId: string,
  event: ChangeEvent<DagRunRow> | undefined,
): Promise<DagRunRow | null> {
  const run = await readRun(tx, dagId, runId);
  if (run) await recordChangeEvent(tx, event, run);
  return run;
}

async function selectClearable(
  db: Db,
  dagId: string,
  runId: string,
  onlyFailed: boolean,
  lock: boolean,
): Promise<TaskInstanceRow[]> {
  const stateFilter = onlyFailed
    ? Prisma.sql`AND ti.state IN ('failed', 'upstream_failed')`
    : Prisma.empty;
  const rows = await db.$queryRaw<TaskInstanceRecord[]>`
    SELECT ${TASK_INSTANCE_COLUMNS}
    FROM task_instance ti
    JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
    LEFT JOIN dag_version v ON v.id = ti.dag_version_id
    WHERE ti.dag_id = ${dagId} AND ti.run_id = ${runId} ${stateFilter}
    ORDER BY ti.task_id, ti.map_index
    ${lock ? Prisma.sql`FOR UPDATE OF ti` : Prisma.empty}`;
  return rows.map(toTaskInstanceRow);
}
