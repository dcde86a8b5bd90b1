/**
 * Reads of the `dag` table and of version metadata for the API. None of these reads
 * `serialized_dag.data`: listings stay cheap and never touch the DAG cache.
 */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import { PREPARED } from '../../client.ts';
import { hasImportErrorsSql, requestDagFileParse } from '../dag-files.ts';
import { latestVersionIdSql } from '../dag-versions/latest.ts';
import { recordChangeEvent, type ChangeEvent } from './event-logs.ts';
import {
  containsPatternSql,
  orderBySql,
  timeRangeSql,
  countRows,
  pageTotal,
  listingTotal,
  transaction,
  whereSql,
  type Page,
  type Pagination,
  type SortKey,
  type TimeRange,
} from './common.ts';

export interface DagRow {
  dagId: string;
  isPaused: boolean;
  isStale: boolean;
  lastParsedTime: Date | null;
  fileloc: string | null;
  relativeFileloc: string | null;
  description: string | null;
  timetableSummary: string | null;
  tags: string[];
  maxActiveRuns: number;
  maxActiveTasks: number;
  catchup: boolean;
  startDate: Date | null;
  /** The schedule's time zone: an IANA name or a fixed offset such as +01:00 (null: UTC). */
  timezone: string | null;
  nextDagrunLogicalDate: Date | null;
  nextDagrunDataIntervalStart: Date | null;
  nextDagrunDataIntervalEnd: Date | null;
  nextDagrunCreateAfter: Date | null;
  /** An import error is recorded for the DAG's file. */
  hasImportErrors: boolean;
}

export interface DagVersionSummary {
  id: string;
  dagId: string;
  versionNumber: number;
  createdAt: Date;
}

/** The latest version of a DAG, with what only its document says that its details show. */
export interface LatestVersionDetails extends DagVersionSummary {
  isPausedUponCreation: boolean | null;
}

export type DagSortColumn =
  | 'dag_id'
  | 'last_parsed_time'
  | 'next_dagrun_logical_date'
  | 'is_paused'
  | 'start_date'
  | 'last_run_state'
  | 'last_run_start_date';
export type DagVersionSortColumn = 'id' | 'version_number' | 'created_at';

/** Which DAGs a listing or a bulk update concerns. */
export interface DagSelection {
  tags?: string[];
  tagsMatchMode?: 'any' | 'all';
  /** Substring, case-insensitive, `%` / `_` wildcards inside (Airflow's `dag_id_pattern`). */
  dagIdPattern?: string;
  excludeStale: boolean;
  paused?: boolean;
}

export interface DagFilters extends DagSelection, Pagination {
  /** Airflow's `dag_display_name_pattern`: the display name is the dag_id here. */
  dagDisplayNamePattern?: string;
  hasImportErrors?: boolean;
  /** The state of the DAG's latest run (by run_after). */
  lastDagRunState?: string;
  /** Airflow's dag_run_* filters: the DAG has a run in one of these states and these bounds. */
  dagRunState?: string[];
  dagRunStartDate?: TimeRange;
  dagRunEndDate?: TimeRange;
  orderBy: SortKey<DagSortColumn>[];
}

/** Outcome of deleting a DAG: Airflow refuses while its tasks are still at work. */
export type DeleteDagOutcome =
  /** `versionIds`: the versions deleted with it, for the caller's DAG cache to drop at once. */
  | { outcome: 'deleted'; runIds: string[]; versionIds: string[] }
  | { outcome: 'not_found' }
  | { outcome: 'running' };

export interface DagStatsRow {
  dagId: string;
  counts: { state: string; count: number }[];
}

export interface DagSourceRow {
  dagId: string;
  versionNumber: number;
  /**
   * The file's text as stored with the version; null for versions stored before sources were kept.
   */
  sourceCode: string | null;
  /** The serialized document, served as JSON where no source text was kept. */
  data: unknown;
}

export type DagWarningSortColumn = 'dag_id' | 'timestamp';
const WARNING_SORT_COLUMNS: Record<DagWarningSortColumn, string> = {
  dag_id: 'd.dag_id',
  timestamp: 'COALESCE(d.last_parsed_time, d.created_at)',
};

export interface DagWarningRow {
  dagId: string;
  warningType: 'stale dag';
  message: string;
  timestamp: Date;
}

function selectionSql(filters: DagSelection): Prisma.Sql[] {
  const conditions: Prisma.Sql[] = [];
  if (filters.excludeStale) conditions.push(Prisma.sql`NOT d.is_stale`);
  if (filters.paused !== undefined) conditions.push(Prisma.sql`d.is_paused = ${filters.paused}`);
  if (filters.dagIdPattern !== undefined)
    conditions.push(containsPatternSql('d.dag_id', filters.dagIdPattern));
  if (filters.tags && filters.tags.length > 0) {
    conditions.push(
      filters.tagsMatchMode === 'all'
        ? Prisma.sql`d.tags @> ${filters.tags}::text[]`
        : Prisma.sql`d.tags && ${filters.tags}::text[]`,
    );
  }
  return conditions;
}

interface DagRecord {
  dag_id: string;
  is_paused: boolean;
  is_stale: boolean;
  last_parsed_time: Date | null;
  fileloc: string | null;
  relative_fileloc: string | null;
  description: string | null;
  timetable_summary: string | null;
  tags: string[];
  max_active_runs: number;
  max_active_tasks: number;
  catchup: boolean;
  start_date: Date | null;
  timezone: string | null;
  next_dagrun_logical_date: Date | null;
  next_dagrun_data_interval_start: Date | null;
  next_dagrun_data_interval_end: Date | null;
  next_dagrun_create_after: Date | null;
  has_import_errors: boolean;
  total_entries: bigint;
}

const DAG_SORT_COLUMNS: Record<DagSortColumn, string> = {
  dag_id: 'd.dag_id',
  last_parsed_time: 'd.last_parsed_time',
  next_dagrun_logical_date: 'd.next_dagrun_logical_date',
  is_paused: 'd.is_paused',
  start_date: 'd.start_date',
  last_run_state: 'lr.state',
  last_run_start_date: 'lr.start_date',
};

/** Airflow's has_import_errors: an import error is recorded for the DAG's file. */
const HAS_IMPORT_ERRORS_SQL = hasImportErrorsSql('d');

export const VERSION_SORT_COLUMNS: Record<DagVersionSortColumn, string> = {
  id: 'v.id',
  version_number: 'v.version_number',
  created_at: 'v.created_at',
};
/** Every version sort key's column is NOT NULL (see orderBySql). */
export const VERSION_NOT_NULL: ReadonlySet<DagVersionSortColumn> = new Set([
  'id',
  'version_number',
  'created_at',
]);

const DAG_COLUMNS = Prisma.sql`
  d.dag_id, d.is_paused, d.is_stale, d.last_parsed_time, d.fileloc, d.relative_fileloc, d.description,
  d.timetable_summary, d.tags, d.max_active_runs, d.max_active_tasks, d.catchup, d.start_date, d.timezone,
  d.next_dagrun_logical_date, d.next_dagrun_data_interval_start, d.next_dagrun_data_interval_end,
  d.next_dagrun_create_after, ${HAS_IMPORT_ERRORS_SQL} AS has_import_errors`;

function toDagRow(r: DagRecord): DagRow {
  return {
    dagId: r.dag_id,
    isPaused: r.is_paused,
    isStale: r.is_stale,
    lastParsedTime: r.last_parsed_time,
    fileloc: r.fileloc,
    relativeFileloc: r.relative_fileloc,
    description: r.description,
    timetableSummary: r.timetable_summary,
    tags: r.tags,
    maxActiveRuns: r.max_active_runs,
    maxActiveTasks: r.max_active_tasks,
    catchup: r.catchup,
    startDate: r.start_date,
    timezone: r.timezone,
    nextDagrunLogicalDate: r.next_dagrun_logical_date,
    nextDagrunDataIntervalStart: r.next_dagrun_data_interval_start,
    nextDagrunDataIntervalEnd: r.next_dagrun_data_interval_end,
    nextDagrunCreateAfter: r.next_dagrun_create_after,
    hasImportErrors: r.has_import_errors,
  };
}

/**
 * The statement behind `GET /dags`: one page and the number of matching rows in one round trip,
 * prepared once per connection (PREPARED: its planning was a quarter of its cost).
 * Exported so that a benchmark can run and EXPLAIN exactly what the API runs.
 */
export function listDagsSql(filters: DagFilters): Prisma.Sql {
  return Prisma.sql`${Prisma.raw(PREPARED)}
    SELECT ${DAG_COLUMNS}, count(*) OVER () AS total_entries
    FROM dag d ${latestRunJoin(filters)} ${whereSql(listConditions(filters))}
    ${orderBySql(filters.orderBy, DAG_SORT_COLUMNS, 'd.dag_id')}
    LIMIT ${filters.limit} OFFSET ${filters.offset}`;
}

/**
 * The latest run of each DAG, joined only when a filter or the order reads it (`lr.*`): the
 * lateral subquery runs once per matching DAG, and `count(*) OVER ()` makes that every DAG.
 */
function latestRunJoin(filters: DagFilters): Prisma.Sql {
  return readsLatestRun(filters) ? LATEST_RUN_JOIN : Prisma.empty;
}

function readsLatestRun(filters: DagFilters): boolean {
  return (
    filters.lastDagRunState !== undefined ||
    filters.orderBy.some((key) => DAG_SORT_COLUMNS[key.column].startsWith('lr.'))
  );
}

/**
 * Whether a `GET /dags` listing reads `dag_run` (its latest run, or a run filter). Without, it
 * reads `dag` and `import_error` only: the tables whose every change the `dagbag_listing`
 * notification announces, which is what lets the API cache such listings.
 */
export function dagListingReadsRuns(filters: DagFilters): boolean {
  return (
    readsLatestRun(filters) ||
    (filters.dagRunState?.length ?? 0) > 0 ||
    filters.dagRunStartDate !== undefined ||
    filters.dagRunEndDate !== undefined
  );
}

/** The selection plus the listing's own filters (display name, import errors, runs). */
function listConditions(filters: DagFilters): Prisma.Sql[] {
  const conditions = selectionSql(filters);
  if (filters.dagDisplayNamePattern !== undefined)
    conditions.push(containsPatternSql('d.dag_id', filters.dagDisplayNamePattern));
  if (filters.hasImportErrors !== undefined)
    conditions.push(
      filters.hasImportErrors ? HAS_IMPORT_ERRORS_SQL : Prisma.sql`NOT ${HAS_IMPORT_ERRORS_SQL}`,
    );
  if (filters.lastDagRunState !== undefined)
    conditions.push(Prisma.sql`lr.state = ${filters.lastDagRunState}`);
  const runConditions = [
    ...(filters.dagRunState?.length
      ? [Prisma.sql`r.state = ANY(${filters.dagRunState}::text[])`]
      : []),
    ...timeRangeSql('r.start_date', filters.dagRunStartDate),
    ...timeRangeSql('r.end_date', filters.dagRunEndDate),
  ];
  if (runConditions.length > 0)
    conditions.push(
      Prisma.sql`EXISTS (SELECT 1 FROM dag_run r WHERE r.dag_id = d.dag_id AND ${Prisma.join(runConditions, ' AND ')})`,
    );
  return conditions;
}

export function createDagQueries(prisma: PrismaClient) {
  return {
    async listDags(filters: DagFilters): Promise<Page<DagRow>> {
      const rows = await prisma.$queryRaw<DagRecord[]>(listDagsSql(filters));
      const total = await pageTotal(rows, filters.offset, () =>
        countDags(prisma, listConditions(filters), latestRunJoin(filters)),
      );
      return { rows: rows.map(toDagRow), total };
    },

    async getDag(dagId: string): Promise<DagRow | null> {
      const rows = await prisma.$queryRaw<DagRecord[]>`
        SELECT ${DAG_COLUMNS}, 1::bigint AS total_entries FROM dag d WHERE d.dag_id = ${dagId}`;
      return rows[0] ? toDagRow(rows[0]) : null;
    },

    /**
     * Sets `is_paused`, with its audit `event` in the same transaction; the DAG as it is now, or
     * null when there is no such DAG (no event then).
     */
    async setDagPaused(
      dagId: string,
      isPaused: boolean,
      event?: ChangeEvent<DagRow>,
    ): Promise<DagRow | null> {
      return transaction(prisma, async (tx) => {
        const changed = await tx.$executeRaw`
          UPDATE dag SET is_paused = ${isPaused} WHERE dag_id = ${dagId}`;
        if (changed === 0) return null;
        const rows = await tx.$queryRaw<DagRecord[]>`
          SELECT ${DAG_COLUMNS}, 1::bigint AS total_entries FROM dag d WHERE d.dag_id = ${dagId}`;
        const dag = rows[0] ? toDagRow(rows[0]) : null;
        if (dag) await recordChangeEvent(tx, event, dag);
        return dag;
      });
    },

    /**
     * Airflow's bulk PATCH /dags: every DAG the selection matches gets `is_paused`; the answer is
     * the page (`limit`/`offset`, by dag_id) of those DAGs as they are afterwards, and their count.
     * Its audit `event` is written in the same transaction.
     */
    async setDagsPaused(
      filters: DagSelection & Pagination,
      isPaused: boolean,
      event?: ChangeEvent<Page<DagRow>>,
    ): Promise<Page<DagRow>> {
      return transaction(prisma, async (tx) => {
        const conditions = selectionSql(filters);
        const ids = await tx.$queryRaw<{ dag_id: string }[]>`
          SELECT d.dag_id FROM dag d ${whereSql(conditions)} ORDER BY d.dag_id FOR UPDATE`;
        const all = ids.map((row) => row.dag_id);
        await tx.$executeRaw`
          UPDATE dag SET is_paused = ${isPaused}
          WHERE dag_id = ANY(${all}::text[]) AND is_paused <> ${isPaused}`;
        const page = all.slice(filters.offset, filters.offset + filters.limit);
        const rows = await tx.$queryRaw<DagRecord[]>`
          SELECT ${DAG_COLUMNS}, 1::bigint AS total_entries FROM dag d
          WHERE d.dag_id = ANY(${page}::text[]) ORDER BY d.dag_id`;
        const result = { rows: rows.map(toDagRow), total: all.length };
        await recordChangeEvent(tx, event, result);
        return result;
      });
    },

    /**
     * Deletes the DAG's metadata (its row, versions, sources, runs and task instances; the event
     * log is kept, as Airflow keeps it; the runs' ids are returned so their logs can go too) unless
     * one of its runs is running or one of its tasks is queued or running. While the file is still
     * there the processor is asked to parse it again, so the DAG comes back as new, as in Airflow.
     * A deletion's audit `event` is written in the same transaction.
     */
    async deleteDag(
      dagId: string,
      event?: ChangeEvent<DeleteDagOutcome>,
    ): Promise<DeleteDagOutcome> {
      return transaction(prisma, async (tx) => {
        const dags = await tx.$queryRaw<{ fileloc: string | null }[]>`
          SELECT fileloc FROM dag WHERE dag_id = ${dagId} FOR UPDATE`;
        if (dags.length === 0) return { outcome: 'not_found' };
        const busy = await tx.$queryRaw<{ busy: boolean }[]>`
          SELECT EXISTS (SELECT 1 FROM dag_run WHERE dag_id = ${dagId} AND state = 'running')
              OR EXISTS (SELECT 1 FROM task_instance WHERE dag_id = ${dagId} AND state IN ('queued', 'running'))
             AS busy`;
        if (busy[0]!.busy) return { outcome: 'running' };
        const runs = await tx.$queryRaw<{ run_id: string }[]>`
          SELECT run_id FROM dag_run WHERE dag_id = ${dagId}`;
        const versions = await tx.$queryRaw<{ id: string }[]>`
          SELECT id::text AS id FROM dag_version WHERE dag_id = ${dagId}`;
        await tx.$executeRaw`DELETE FROM dag WHERE dag_id = ${dagId}`;
        const fileloc = dags[0]!.fileloc;
        if (fileloc !== null) await requestDagFileParse(tx, fileloc);
        const deleted: DeleteDagOutcome = {
          outcome: 'deleted',
          runIds: runs.map((run) => run.run_id),
          versionIds: versions.map((version) => version.id),
        };
        await recordChangeEvent(tx, event, deleted);
        return deleted;
      });
    },

    /**
     * PUT /parseDagFile: asks the DAG processor (a separate process) to reparse the file on its
     * next pass by leaving a request row, with its audit `event` in the same transaction. False
     * when no DAG comes from that file (no event then).
     */
    async requestParseOfFile(fileloc: string, event?: ChangeEvent<string>): Promise<boolean> {
      return transaction(prisma, async (tx) => {
        const known = await tx.dag.count({ where: { fileloc } });
        if (known === 0) return false;
        await requestDagFileParse(tx, fileloc);
        await recordChangeEvent(tx, event, fileloc);
        return true;
      });
    },

    /** Distinct tags of the DAGs (stale ones included, as Airflow's dag_tag table), by name. */
    async listDagTags(
      filters: Pagination & { namePattern?: string; descending: boolean },
    ): Promise<Page<string>> {
      const conditions = filters.namePattern
        ? [containsPatternSql('t.name', filters.namePattern)]
        : [];
      const rows = await prisma.$queryRaw<{ name: string; total_entries: bigint }[]>`
        SELECT t.name, count(*) OVER () AS total_entries
        FROM (SELECT DISTINCT unnest(tags) AS name FROM dag) t ${whereSql(conditions)}
        ORDER BY t.name ${filters.descending ? Prisma.sql`DESC` : Prisma.sql`ASC`}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total = await pageTotal(rows, filters.offset, () =>
        countRows(
          prisma,
          Prisma.sql`FROM (SELECT DISTINCT unnest(tags) AS name FROM dag) t ${whereSql(conditions)}`,
        ),
      );
      return { rows: rows.map((row) => row.name), total };
    },

    /**
     * Run counts per state for each DAG (all DAGs, or those named), every state present. The runs
     * are counted per (dag_id, state) first, which the index of that name answers alone (an
     * index-only scan), and only then spread over the DAGs and states: joined first, every run row
     * was read to count it (1.2 s for 1,000,000 runs, now 0.1 s).
     */
    async dagRunStats(dagIds: readonly string[] | undefined): Promise<DagStatsRow[]> {
      const named = dagIds === undefined ? undefined : [...dagIds];
      const rows = await prisma.$queryRaw<{ dag_id: string; state: string; count: number }[]>`
        SELECT d.dag_id, s.state, COALESCE(c.n, 0)::int AS count
        FROM dag d
        CROSS JOIN unnest(ARRAY['queued', 'running', 'success', 'failed']) WITH ORDINALITY AS s(state, ord)
        LEFT JOIN (
          SELECT r.dag_id, r.state, count(*) AS n FROM dag_run r
          ${named === undefined ? Prisma.empty : Prisma.sql`WHERE r.dag_id = ANY(${named}::text[])`}
          GROUP BY r.dag_id, r.state
        ) c ON c.dag_id = d.dag_id AND c.state = s.state
        WHERE ${named === undefined ? Prisma.sql`NOT d.is_stale` : Prisma.sql`d.dag_id = ANY(${named}::text[])`}
        ORDER BY d.dag_id, s.ord`;
      const byDag = new Map<string, DagStatsRow>();
      for (const row of rows) {
        let entry = byDag.get(row.dag_id);
        if (!entry) byDag.set(row.dag_id, (entry = { dagId: row.dag_id, counts: [] }));
        entry.counts.push({ state: row.state, count: row.count });
      }
      return [...byDag.values()];
    },

    /** The source of the DAG's latest version, or of `versionNumber`; null when there is none. */
    async getDagSource(dagId: string, versionNumber?: number): Promise<DagSourceRow | null> {
      const rows = await prisma.$queryRaw<
        { version_number: number; source_code: string | null; data: unknown }[]
      >`
        SELECT v.version_number, c.source_code, s.data
        FROM dag_version v
        LEFT JOIN dag_code c ON c.dag_version_id = v.id
        LEFT JOIN serialized_dag s ON s.dag_version_id = v.id
        WHERE v.dag_id = ${dagId}
          ${versionNumber === undefined ? Prisma.empty : Prisma.sql`AND v.version_number = ${versionNumber}`}
        ORDER BY v.version_number DESC LIMIT 1`;
      const row = rows[0];
      if (!row) return null;
      return {
        dagId,
        versionNumber: row.version_number,
        sourceCode: row.source_code,
        data: row.data,
      };
    },

    /**
     * Warnings about DAGs: `stale dag` for each DAG whose file vanished from DAGS_FOLDER (it keeps
     * its history but gets no runs). Dated by the DAG's last parse, when the file was last seen.
     */
    async listDagWarnings(
      filters: Pagination & {
        dagId?: string;
        /** The types to list; `stale dag` is the only one this system has. */
        warningTypes: readonly string[];
        orderBy: SortKey<DagWarningSortColumn>[];
      },
    ): Promise<Page<DagWarningRow>> {
      if (!filters.warningTypes.includes('stale dag')) return { rows: [], total: 0 };
      const conditions = [Prisma.sql`d.is_stale`];
      if (filters.dagId !== undefined) conditions.push(Prisma.sql`d.dag_id = ${filters.dagId}`);
      const rows = await prisma.$queryRaw<
        { dag_id: string; fileloc: string | null; seen: Date; total_entries: bigint }[]
      >`
        SELECT d.dag_id, d.fileloc, COALESCE(d.last_parsed_time, d.created_at) AS seen,
               count(*) OVER () AS total_entries
        FROM dag d ${whereSql(conditions)}
        ${orderBySql(filters.orderBy, WARNING_SORT_COLUMNS, 'd.dag_id')}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total = await pageTotal(rows, filters.offset, () => countDags(prisma, conditions));
      return {
        rows: rows.map((row) => ({
          dagId: row.dag_id,
          warningType: 'stale dag',
          message: `The file of DAG ${row.dag_id}${row.fileloc ? ` (${row.fileloc})` : ''} is no longer in DAGS_FOLDER: the DAG is stale, keeps its history and gets no new runs.`,
          timestamp: row.seen,
        })),
        total,
      };
    },

    async dagExists(dagId: string): Promise<boolean> {
      return (await prisma.dag.count({ where: { dagId } })) > 0;
    },

    /**
     * For a DAG's details: its latest version, and what only the document says, read out of it by
     * PostgreSQL. The details are a listing-like read: they do not load the document into the DAG
     * cache.
     */
    async latestVersionDetails(dagId: string): Promise<LatestVersionDetails | null> {
      const rows = await prisma.$queryRaw<LatestVersionDetails[]>`
        SELECT v.id::text AS id, v.dag_id AS "dagId", v.version_number AS "versionNumber",
               v.created_at AS "createdAt",
               (s.data->>'is_paused_upon_creation')::boolean AS "isPausedUponCreation"
        FROM dag_version v JOIN serialized_dag s ON s.dag_version_id = v.id
        WHERE v.id = ${latestVersionIdSql({ value: dagId })}`;
      return rows[0] ?? null;
    },

    async getDagVersion(dagId: string, versionNumber: number): Promise<DagVersionSummary | null> {
      return prisma.dagVersion.findUnique({
        where: { dagId_versionNumber: { dagId, versionNumber } },
        select: { id: true, dagId: true, versionNumber: true, createdAt: true },
      });
    },

    /**
     * Version metadata only (no serialized data): a listing of 70k versions costs a few KB a page.
     */
    /** The versions of one DAG, or of every DAG when `dagId` is undefined (Airflow's `~`). */
    async listDagVersions(
      dagId: string | undefined,
      filters: Pagination & { versionNumber?: number; orderBy: SortKey<DagVersionSortColumn>[] },
    ): Promise<Page<DagVersionSummary>> {
      const conditions = dagId === undefined ? [] : [Prisma.sql`v.dag_id = ${dagId}`];
      if (filters.versionNumber !== undefined)
        conditions.push(Prisma.sql`v.version_number = ${filters.versionNumber}`);
      const rows = await prisma.$queryRaw<
        {
          id: string;
          dag_id: string;
          version_number: number;
          created_at: Date;
        }[]
      >`
        SELECT v.id::text AS id, v.dag_id, v.version_number, v.created_at
        FROM dag_version v ${whereSql(conditions)}
        ${orderBySql(filters.orderBy, VERSION_SORT_COLUMNS, 'v.id', VERSION_NOT_NULL)}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total = await listingTotal(rows.length, filters, () =>
        countRows(prisma, Prisma.sql`FROM dag_version v ${whereSql(conditions)}`),
      );
      return {
        rows: rows.map((r) => ({
          id: r.id,
          dagId: r.dag_id,
          versionNumber: r.version_number,
          createdAt: r.created_at,
        })),
        total,
      };
    },
  };
}

/** `lr`: the DAG's latest run (by run_after), for last_dag_run_state and the last_run_* orders. */
const LATEST_RUN_JOIN = Prisma.sql`
  LEFT JOIN LATERAL (SELECT r.state, r.start_date FROM dag_run r WHERE r.dag_id = d.dag_id
                     ORDER BY r.run_after DESC, r.id DESC LIMIT 1) lr ON true`;

async function countDags(
  prisma: PrismaClient,
  conditions: Prisma.Sql[],
  join: Prisma.Sql = LATEST_RUN_JOIN,
): Promise<number> {
  return countRows(prisma, Prisma.sql`FROM dag d ${join} ${whereSql(conditions)}`);
}
