/**
 * Reads of the `dag` table and of version metadata for the API. None of these reads
 * `serialized_dag.data`: listings stay cheap and never touch the DAG cache.
 */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import {
  orderBySql,
  totalOf,
  whereSql,
  type Page,
  type Pagination,
  type SortKey,
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

export type DagSortColumn =
  'dag_id' | 'last_parsed_time' | 'next_dagrun_logical_date' | 'is_paused';
export type DagVersionSortColumn = 'id' | 'version_number' | 'created_at';

export interface DagFilters extends Pagination {
  tags?: string[];
  tagsMatchMode?: 'any' | 'all';
  /** SQL LIKE pattern, matched case-insensitively like Airflow's `*_pattern` parameters. */
  dagIdPattern?: string;
  excludeStale: boolean;
  paused?: boolean;
  orderBy: SortKey<DagSortColumn>[];
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
};

const VERSION_SORT_COLUMNS: Record<DagVersionSortColumn, string> = {
  id: 'v.id',
  version_number: 'v.version_number',
  created_at: 'v.created_at',
};

const DAG_COLUMNS = Prisma.sql`
  d.dag_id, d.is_paused, d.is_stale, d.last_parsed_time, d.fileloc, d.relative_fileloc, d.description,
  d.timetable_summary, d.tags, d.max_active_runs, d.max_active_tasks, d.catchup, d.start_date,
  d.next_dagrun_logical_date, d.next_dagrun_data_interval_start, d.next_dagrun_data_interval_end,
  d.next_dagrun_create_after,
  EXISTS (SELECT 1 FROM import_error e WHERE e.filename IN (d.fileloc, d.relative_fileloc)) AS has_import_errors`;

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
    nextDagrunLogicalDate: r.next_dagrun_logical_date,
    nextDagrunDataIntervalStart: r.next_dagrun_data_interval_start,
    nextDagrunDataIntervalEnd: r.next_dagrun_data_interval_end,
    nextDagrunCreateAfter: r.next_dagrun_create_after,
    hasImportErrors: r.has_import_errors,
  };
}

export function createDagQueries(prisma: PrismaClient) {
  return {
    async listDags(filters: DagFilters): Promise<Page<DagRow>> {
      const conditions: Prisma.Sql[] = [];
      if (filters.excludeStale) conditions.push(Prisma.sql`NOT d.is_stale`);
      if (filters.paused !== undefined)
        conditions.push(Prisma.sql`d.is_paused = ${filters.paused}`);
      if (filters.dagIdPattern !== undefined)
        conditions.push(Prisma.sql`d.dag_id ILIKE ${filters.dagIdPattern}`);
      if (filters.tags && filters.tags.length > 0) {
        conditions.push(
          filters.tagsMatchMode === 'all'
            ? Prisma.sql`d.tags @> ${filters.tags}::text[]`
            : Prisma.sql`d.tags && ${filters.tags}::text[]`,
        );
      }
      const rows = await prisma.$queryRaw<DagRecord[]>`
        SELECT ${DAG_COLUMNS}, count(*) OVER () AS total_entries
        FROM dag d ${whereSql(conditions)}
        ${orderBySql(filters.orderBy, DAG_SORT_COLUMNS, 'd.dag_id')}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total = rows.length > 0 ? totalOf(rows) : await countDags(prisma, conditions);
      return { rows: rows.map(toDagRow), total };
    },

    async getDag(dagId: string): Promise<DagRow | null> {
      const rows = await prisma.$queryRaw<DagRecord[]>`
        SELECT ${DAG_COLUMNS}, 1::bigint AS total_entries FROM dag d WHERE d.dag_id = ${dagId}`;
      return rows[0] ? toDagRow(rows[0]) : null;
    },

    async dagExists(dagId: string): Promise<boolean> {
      return (await prisma.dag.count({ where: { dagId } })) > 0;
    },

    async latestVersion(dagId: string): Promise<DagVersionSummary | null> {
      return prisma.dagVersion.findFirst({
        where: { dagId },
        orderBy: { versionNumber: 'desc' },
        select: { id: true, dagId: true, versionNumber: true, createdAt: true },
      });
    },

    async getDagVersion(dagId: string, versionNumber: number): Promise<DagVersionSummary | null> {
      return prisma.dagVersion.findUnique({
        where: { dagId_versionNumber: { dagId, versionNumber } },
        select: { id: true, dagId: true, versionNumber: true, createdAt: true },
      });
    },

    /** Version metadata only (no serialized data): a listing of 70k versions costs a few KB a page. */
    async listDagVersions(
      dagId: string,
      filters: Pagination & { versionNumber?: number; orderBy: SortKey<DagVersionSortColumn>[] },
    ): Promise<Page<DagVersionSummary>> {
      const conditions = [Prisma.sql`v.dag_id = ${dagId}`];
      if (filters.versionNumber !== undefined)
        conditions.push(Prisma.sql`v.version_number = ${filters.versionNumber}`);
      const rows = await prisma.$queryRaw<
        {
          id: string;
          dag_id: string;
          version_number: number;
          created_at: Date;
          total_entries: bigint;
        }[]
      >`
        SELECT v.id::text AS id, v.dag_id, v.version_number, v.created_at, count(*) OVER () AS total_entries
        FROM dag_version v ${whereSql(conditions)}
        ${orderBySql(filters.orderBy, VERSION_SORT_COLUMNS, 'v.id')}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total =
        rows.length > 0
          ? totalOf(rows)
          : await prisma.dagVersion.count({
              where: {
                dagId,
                ...(filters.versionNumber !== undefined
                  ? { versionNumber: filters.versionNumber }
                  : {}),
              },
            });
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

async function countDags(prisma: PrismaClient, conditions: Prisma.Sql[]): Promise<number> {
  const rows = await prisma.$queryRaw<
    { n: bigint }[]
  >`SELECT count(*) AS n FROM dag d ${whereSql(conditions)}`;
  return Number(rows[0]?.n ?? 0);
}
