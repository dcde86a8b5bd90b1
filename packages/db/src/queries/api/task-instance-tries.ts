/**
 * The tries of a task instance (Airflow's `tries` endpoints): every earlier try from
 * task_instance_history (written by the database trigger when a try is retried or cleared) and
 * the current try, the task_instance row itself, unless that try is the archived one (up_for_retry,
 * or cleared/retried and not started again). As Airflow, a try archived and then set to a state by
 * an operator is listed twice (as it ended, and as it is now); the single-try read prefers the
 * current row.
 */
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import {
  TASK_INSTANCE_COLUMNS,
  toTaskInstanceRow,
  type TaskInstanceRecord,
  type TaskInstanceRow,
} from './task-instances.ts';

export interface TaskInstanceKey {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
}

function triesSql(key: TaskInstanceKey, tryNumber: number | undefined): Prisma.Sql {
  const oneTry = (column: string) =>
    tryNumber === undefined ? Prisma.empty : Prisma.sql`AND ${Prisma.raw(column)} = ${tryNumber}`;
  return Prisma.sql`
    SELECT * FROM (
      SELECT h.task_instance_id::text AS id, h.dag_id, h.run_id, h.task_id, h.map_index, h.state,
        h.try_number, h.max_tries, h.operator, h.start_date, h.end_date, h.duration, h.hostname, h.pid,
        h.queued_dttm, h.scheduled_dttm, NULL::text AS note, h.dag_version_id::text AS dag_version_id, r.logical_date,
        r.run_after, v.version_number, v.created_at AS version_created_at, false AS is_current
      FROM task_instance_history h
      JOIN dag_run r ON r.dag_id = h.dag_id AND r.run_id = h.run_id
      LEFT JOIN dag_version v ON v.id = h.dag_version_id
      WHERE h.dag_id = ${key.dagId} AND h.run_id = ${key.runId} AND h.task_id = ${key.taskId}
        AND h.map_index = ${key.mapIndex} ${oneTry('h.try_number')}
      UNION ALL
      SELECT ${TASK_INSTANCE_COLUMNS}, true AS is_current
      FROM task_instance ti
      JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
      LEFT JOIN dag_version v ON v.id = ti.dag_version_id
      WHERE ti.dag_id = ${key.dagId} AND ti.run_id = ${key.runId} AND ti.task_id = ${key.taskId}
        AND ti.map_index = ${key.mapIndex} ${oneTry('ti.try_number')}
        AND ti.state IS DISTINCT FROM 'up_for_retry'
        -- Cleared or retried and not started again: that try is the archived one.
        AND NOT ((ti.state IS NULL OR ti.state = 'scheduled') AND EXISTS (
          SELECT 1 FROM task_instance_history h
          WHERE h.task_instance_id = ti.id AND h.try_number = ti.try_number))
    ) tries
    ORDER BY try_number, is_current`;
}

export function createTaskInstanceTryQueries(prisma: PrismaClient) {
  return {
    /** Every try, oldest first; empty when there is no such task instance. */
    async listTaskInstanceTries(key: TaskInstanceKey): Promise<TaskInstanceRow[]> {
      const rows = await prisma.$queryRaw<TaskInstanceRecord[]>(triesSql(key, undefined));
      return rows.map(toTaskInstanceRow);
    },

    async getTaskInstanceTry(
      key: TaskInstanceKey,
      tryNumber: number,
    ): Promise<TaskInstanceRow | null> {
      const rows = await prisma.$queryRaw<TaskInstanceRecord[]>(triesSql(key, tryNumber));
      const row = rows.at(-1); // ordered by is_current: the current row wins
      return row ? toTaskInstanceRow(row) : null;
    },
  };
}
