/**
 * Task instances across DAGs and runs: Airflow's `POST /dags/~/dagRuns/~/taskInstances/list` and
 * the `~` forms of the listing. Each filter is optional; an empty selection lists every instance.
 */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import {
  containsPatternSql,
  dateColumn,
  orderBySql,
  timeRangeSql,
  countRows,
  listingTotal,
  whereSql,
  type Page,
  type Pagination,
  type SortKey,
  type TimeRange,
} from './common.ts';
import {
  TASK_INSTANCE_COLUMNS,
  TASK_INSTANCE_NOT_NULL,
  TASK_INSTANCE_SORT_COLUMNS,
  toTaskInstanceRow,
  type TaskInstanceRecord,
  type TaskInstanceRow,
  type TaskInstanceSortColumn,
} from './task-instances.ts';

export interface NumberRange {
  gte?: number;
  gt?: number;
  lte?: number;
  lt?: number;
}

export interface TaskInstanceBatchFilters extends Pagination {
  dagIds?: string[];
  runIds?: string[];
  taskIds?: string[];
  /** Airflow's `task_display_name_pattern` (the display name is the task id here). */
  taskIdPattern?: string;
  /** Values are task instance states; `null` stands for "no state yet". */
  state?: (string | null)[];
  runAfter?: TimeRange;
  logicalDate?: TimeRange;
  startDate?: TimeRange;
  endDate?: TimeRange;
  updatedAt?: TimeRange;
  duration?: NumberRange;
  /**
   * Airflow's GET listings compare a start or end date that is not set yet as now (an unfinished
   * one "ends" now, so `end_date_gte` finds what is still going); its batch bodies do not.
   */
  unsetDatesAsNow?: boolean;
  tryNumber?: number[];
  operator?: string[];
  versionNumber?: number[];
  orderBy: SortKey<TaskInstanceSortColumn>[];
}

function numberRangeSql(column: string, range: NumberRange | undefined): Prisma.Sql[] {
  if (!range) return [];
  const col = Prisma.raw(column);
  const conditions: Prisma.Sql[] = [];
  if (range.gte !== undefined) conditions.push(Prisma.sql`${col} >= ${range.gte}`);
  if (range.gt !== undefined) conditions.push(Prisma.sql`${col} > ${range.gt}`);
  if (range.lte !== undefined) conditions.push(Prisma.sql`${col} <= ${range.lte}`);
  if (range.lt !== undefined) conditions.push(Prisma.sql`${col} < ${range.lt}`);
  return conditions;
}

export function createTaskInstanceBatchQueries(prisma: PrismaClient) {
  return {
    async listTaskInstancesAcross(
      filters: TaskInstanceBatchFilters,
    ): Promise<Page<TaskInstanceRow>> {
      const conditions: Prisma.Sql[] = [];
      if (filters.dagIds) conditions.push(Prisma.sql`ti.dag_id = ANY(${filters.dagIds}::text[])`);
      if (filters.runIds) conditions.push(Prisma.sql`ti.run_id = ANY(${filters.runIds}::text[])`);
      if (filters.taskIds)
        conditions.push(Prisma.sql`ti.task_id = ANY(${filters.taskIds}::text[])`);
      if (filters.taskIdPattern !== undefined)
        conditions.push(containsPatternSql('ti.task_id', filters.taskIdPattern));
      if (filters.state?.length) {
        const named = filters.state.filter((s): s is string => s !== null);
        conditions.push(
          filters.state.includes(null)
            ? Prisma.sql`(ti.state IS NULL OR ti.state = ANY(${named}::text[]))`
            : Prisma.sql`ti.state = ANY(${named}::text[])`,
        );
      }
      const runConditions = [
        ...timeRangeSql('r.run_after', filters.runAfter),
        ...timeRangeSql('r.logical_date', filters.logicalDate),
      ];
      conditions.push(...timeRangeSql(dateColumn('ti.start_date', filters), filters.startDate));
      conditions.push(...timeRangeSql(dateColumn('ti.end_date', filters), filters.endDate));
      conditions.push(...timeRangeSql('ti.updated_at', filters.updatedAt));
      conditions.push(...numberRangeSql('ti.duration', filters.duration));
      if (filters.tryNumber?.length)
        conditions.push(Prisma.sql`ti.try_number = ANY(${filters.tryNumber}::int[])`);
      if (filters.operator?.length)
        conditions.push(Prisma.sql`ti.operator = ANY(${filters.operator}::text[])`);
      const versionConditions = filters.versionNumber?.length
        ? [Prisma.sql`v.version_number = ANY(${filters.versionNumber}::int[])`]
        : [];
      const where = whereSql([...conditions, ...runConditions, ...versionConditions]);
      const rows = await prisma.$queryRaw<TaskInstanceRecord[]>`
        SELECT ${TASK_INSTANCE_COLUMNS}
        FROM task_instance ti
        JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
        LEFT JOIN dag_version v ON v.id = ti.dag_version_id
        ${where}
        ${orderBySql(filters.orderBy, TASK_INSTANCE_SORT_COLUMNS, 'ti.id', TASK_INSTANCE_NOT_NULL)}
        LIMIT ${filters.limit} OFFSET ${filters.offset}`;
      // Every instance has its run (a foreign key) and at most one version: the count joins them
      // only when a filter reads them.
      const total = await listingTotal(rows.length, filters, () =>
        countRows(
          prisma,
          Prisma.sql`FROM task_instance ti
            ${runConditions.length > 0 ? Prisma.sql`JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id` : Prisma.empty}
            ${versionConditions.length > 0 ? Prisma.sql`JOIN dag_version v ON v.id = ti.dag_version_id` : Prisma.empty}
            ${where}`,
        ),
      );
      return { rows: rows.map(toTaskInstanceRow), total };
    },
  };
}
