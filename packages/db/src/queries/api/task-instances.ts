/** task_instance reads for the API, each joined with its run (dates) and its DAG version. */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import type { DagVersionSummary } from './dags.ts';

export interface TaskInstanceRow {
  id: string;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  state: string | null;
  tryNumber: number;
  maxTries: number;
  operator: string | null;
  startDate: Date | null;
  endDate: Date | null;
  duration: number | null;
  hostname: string | null;
  pid: number | null;
  queuedDttm: Date | null;
  scheduledDttm: Date | null;
  note: string | null;
  dagVersionId: string | null;
  /** From the run. */
  logicalDate: Date | null;
  runAfter: Date;
  dagVersion: DagVersionSummary | null;
}

export type TaskInstanceSortColumn =
  | 'id'
  | 'task_id'
  | 'map_index'
  | 'state'
  | 'start_date'
  | 'end_date'
  | 'duration'
  | 'try_number'
  | 'operator'
  | 'logical_date'
  | 'run_after'
  | 'data_interval_start'
  | 'data_interval_end';

export interface TaskInstanceRecord {
  id: string;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  state: string | null;
  try_number: number;
  max_tries: number;
  operator: string | null;
  start_date: Date | null;
  end_date: Date | null;
  duration: number | null;
  hostname: string | null;
  pid: number | null;
  queued_dttm: Date | null;
  scheduled_dttm: Date | null;
  note: string | null;
  dag_version_id: string | null;
  logical_date: Date | null;
  run_after: Date;
  version_number: number | null;
  version_created_at: Date | null;
}

/** Needs `ti`, `r` (its dag_run) and `v` (LEFT JOIN dag_version) in scope. */
export const TASK_INSTANCE_COLUMNS = Prisma.sql`
  ti.id::text AS id, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number, ti.max_tries,
  ti.operator, ti.start_date, ti.end_date, ti.duration, ti.hostname, ti.pid, ti.queued_dttm, ti.scheduled_dttm,
  ti.note, ti.dag_version_id::text AS dag_version_id, r.logical_date, r.run_after,
  v.version_number, v.created_at AS version_created_at`;

export const TASK_INSTANCE_SORT_COLUMNS: Record<TaskInstanceSortColumn, string> = {
  id: 'ti.id',
  task_id: 'ti.task_id',
  map_index: 'ti.map_index',
  state: 'ti.state',
  start_date: 'ti.start_date',
  end_date: 'ti.end_date',
  duration: 'ti.duration',
  try_number: 'ti.try_number',
  operator: 'ti.operator',
  logical_date: 'r.logical_date',
  run_after: 'r.run_after',
  data_interval_start: 'r.data_interval_start',
  data_interval_end: 'r.data_interval_end',
};

/** Sort keys whose column is NOT NULL (see orderBySql). */
export const TASK_INSTANCE_NOT_NULL: ReadonlySet<TaskInstanceSortColumn> = new Set([
  'id',
  'task_id',
  'map_index',
  'try_number',
  'run_after',
]);

export function toTaskInstanceRow(r: TaskInstanceRecord): TaskInstanceRow {
  return {
    id: r.id,
    dagId: r.dag_id,
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    state: r.state,
    tryNumber: r.try_number,
    maxTries: r.max_tries,
    operator: r.operator,
    startDate: r.start_date,
    endDate: r.end_date,
    duration: r.duration,
    hostname: r.hostname,
    pid: r.pid,
    queuedDttm: r.queued_dttm,
    scheduledDttm: r.scheduled_dttm,
    note: r.note,
    dagVersionId: r.dag_version_id,
    logicalDate: r.logical_date,
    runAfter: r.run_after,
    dagVersion:
      r.dag_version_id !== null && r.version_number !== null && r.version_created_at !== null
        ? {
            id: r.dag_version_id,
            dagId: r.dag_id,
            versionNumber: r.version_number,
            createdAt: r.version_created_at,
          }
        : null,
  };
}

export function createTaskInstanceQueries(prisma: PrismaClient) {
  return {
    async getTaskInstance(
      dagId: string,
      runId: string,
      taskId: string,
      mapIndex = -1,
    ): Promise<TaskInstanceRow | null> {
      const rows = await prisma.$queryRaw<TaskInstanceRecord[]>`
        SELECT ${TASK_INSTANCE_COLUMNS}
        FROM task_instance ti
        JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
        LEFT JOIN dag_version v ON v.id = ti.dag_version_id
        WHERE ti.dag_id = ${dagId} AND ti.run_id = ${runId} AND ti.task_id = ${taskId} AND ti.map_index = ${mapIndex}`;
      return rows[0] ? toTaskInstanceRow(rows[0]) : null;
    },
  };
}
