/**
 * The audit trail (Airflow's `log` table, served as eventLogs). One writer, `recordEvent`, used by
 * the API for every mutating call and by the scheduler for its own events; reads for the API.
 */
import { Prisma } from '../../generated/prisma/client.ts';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Db } from '../scheduler/types.ts';
import {
  orderBySql,
  countRows,
  listingSource,
  walksPrimaryKey,
  listingTotal,
  whereSql,
  type Page,
  type Pagination,
  type SortKey,
} from './common.ts';

export interface NewEvent {
  /**
   * What happened, in Airflow's words where it has them: `trigger_dag_run`, `patch_dag`,
   * `failed`...
   */
  event: string;
  /** Who: a named API token's name, `token:<fingerprint>` for an unnamed one, `scheduler`. */
  owner: string | null;
  dagId?: string | null;
  runId?: string | null;
  taskId?: string | null;
  mapIndex?: number | null;
  tryNumber?: number | null;
  logicalDate?: Date | null;
  /** Details (request body, previous state...), stored as JSON text as Airflow does. */
  extra?: Record<string, unknown> | null;
}

export interface EventLogRow {
  id: number;
  when: Date;
  dagId: string | null;
  taskId: string | null;
  mapIndex: number | null;
  runId: string | null;
  tryNumber: number | null;
  logicalDate: Date | null;
  event: string;
  owner: string | null;
  extra: string | null;
}

export type EventLogSortColumn =
  | 'id'
  | 'dttm'
  | 'dag_id'
  | 'task_id'
  | 'run_id'
  | 'event'
  | 'logical_date'
  | 'owner'
  | 'map_index'
  | 'try_number'
  | 'extra';

export interface EventLogFilters extends Pagination {
  dagId?: string;
  taskId?: string;
  runId?: string;
  mapIndex?: number;
  tryNumber?: number;
  owner?: string;
  event?: string;
  includedEvents?: string[];
  excludedEvents?: string[];
  before?: Date;
  after?: Date;
  orderBy: SortKey<EventLogSortColumn>[];
}

export const EVENT_LOG_SORT_COLUMNS: Record<EventLogSortColumn, string> = {
  id: 'l.id',
  dttm: 'l.dttm',
  dag_id: 'l.dag_id',
  task_id: 'l.task_id',
  run_id: 'l.run_id',
  event: 'l.event',
  logical_date: 'l.logical_date',
  owner: 'l.owner',
  map_index: 'l.map_index',
  try_number: 'l.try_number',
  extra: 'l.extra',
};

/** Sort keys whose column is NOT NULL (see orderBySql). */
export const EVENT_LOG_NOT_NULL: ReadonlySet<EventLogSortColumn> = new Set(['id', 'dttm', 'event']);

/** Appends one event to the audit trail; runs inside the caller's transaction when given one. */
export async function recordEvent(db: Db, event: NewEvent): Promise<void> {
  await db.$executeRaw`
    INSERT INTO log (event, owner, dag_id, run_id, task_id, map_index, try_number, logical_date, extra)
    VALUES (${event.event}, ${event.owner}, ${event.dagId ?? null}, ${event.runId ?? null},
            ${event.taskId ?? null}, ${event.mapIndex ?? null}, ${event.tryNumber ?? null},
            ${event.logicalDate ?? null}, ${event.extra ? JSON.stringify(event.extra) : null})`;
}

/**
 * The audit event of an API change, written in the change's own transaction: an event written
 * after the commit can fail (a pool wait beyond its timeout) and answer an error for a change that
 * was made, which a client then retries as a second. Given as is, or made from the change's result.
 */
export type ChangeEvent<T> = NewEvent | ((result: T) => NewEvent);

/** Writes a change's audit `event` (if any) with `db`, the change's transaction. */
export async function recordChangeEvent<T>(
  db: Db,
  event: ChangeEvent<T> | undefined,
  result: T,
): Promise<void> {
  if (event) await recordEvent(db, typeof event === 'function' ? event(result) : event);
}

interface EventLogRecord {
  id: number;
  dttm: Date;
  dag_id: string | null;
  task_id: string | null;
  map_index: number | null;
  run_id: string | null;
  try_number: number | null;
  logical_date: Date | null;
  event: string;
  owner: string | null;
  extra: string | null;
}

const toRow = (r: EventLogRecord): EventLogRow => ({
  id: r.id,
  when: r.dttm,
  dagId: r.dag_id,
  taskId: r.task_id,
  mapIndex: r.map_index,
  runId: r.run_id,
  tryNumber: r.try_number,
  logicalDate: r.logical_date,
  event: r.event,
  owner: r.owner,
  extra: r.extra,
});

export function createEventLogQueries(prisma: PrismaClient) {
  return {
    recordEvent: (event: NewEvent) => recordEvent(prisma, event),

    async listEventLogs(filters: EventLogFilters): Promise<Page<EventLogRow>> {
      const c: Prisma.Sql[] = [];
      if (filters.dagId !== undefined) c.push(Prisma.sql`l.dag_id = ${filters.dagId}`);
      if (filters.taskId !== undefined) c.push(Prisma.sql`l.task_id = ${filters.taskId}`);
      if (filters.runId !== undefined) c.push(Prisma.sql`l.run_id = ${filters.runId}`);
      if (filters.mapIndex !== undefined) c.push(Prisma.sql`l.map_index = ${filters.mapIndex}`);
      if (filters.tryNumber !== undefined) c.push(Prisma.sql`l.try_number = ${filters.tryNumber}`);
      if (filters.owner !== undefined) c.push(Prisma.sql`l.owner = ${filters.owner}`);
      if (filters.event !== undefined) c.push(Prisma.sql`l.event = ${filters.event}`);
      if (filters.includedEvents?.length)
        c.push(Prisma.sql`l.event = ANY(${filters.includedEvents}::text[])`);
      if (filters.excludedEvents?.length)
        c.push(Prisma.sql`l.event <> ALL(${filters.excludedEvents}::text[])`);
      if (filters.before !== undefined) c.push(Prisma.sql`l.dttm < ${filters.before}`);
      if (filters.after !== undefined) c.push(Prisma.sql`l.dttm > ${filters.after}`);
      const where = whereSql(c);
      const source = await listingSource(prisma, {
        table: 'log',
        alias: 'l',
        where,
        indexedRange:
          (filters.before !== undefined || filters.after !== undefined) &&
          walksPrimaryKey(filters.orderBy),
      });
      const rows = await prisma.$queryRaw<EventLogRecord[]>`
        ${source.with}SELECT l.* FROM ${source.from}
        ${orderBySql(filters.orderBy, EVENT_LOG_SORT_COLUMNS, 'l.id', EVENT_LOG_NOT_NULL)}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      const total =
        source.total ??
        (await listingTotal(rows.length, filters, () =>
          countRows(prisma, Prisma.sql`FROM log l ${where}`),
        ));
      return { rows: rows.map(toRow), total };
    },

    async getEventLog(id: number): Promise<EventLogRow | null> {
      const rows = await prisma.$queryRaw<EventLogRecord[]>`
        SELECT l.* FROM log l WHERE l.id = ${id}`;
      return rows[0] ? toRow(rows[0]) : null;
    },
  };
}
