/**
 * What the dependencies endpoint needs to say why a task instance is not running: its run's
 * state, the DAG's pause flag, how many instances hold executor slots, and the states of its
 * upstream instances.
 * The API judges them against the task's trigger rule (the DAG structure comes from the cache).
 */
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { TaskInstanceKey } from './task-instance-tries.ts';

export interface TaskInstanceDependencyFacts {
  runState: string;
  isPaused: boolean;
  /** Instances of every DAG in queued or running state (they hold executor slots). */
  activeTasks: number;
  /** Instances of this run queued or running, and how many its DAG allows (max_active_tasks). */
  runActiveTasks: number;
  maxActiveTasks: number;
  /** State per upstream task id (null: no state yet; missing: no instance). */
  upstreamStates: Map<string, string | null>;
}

export function createTaskInstanceDependencyQueries(prisma: PrismaClient) {
  return {
    async taskInstanceDependencyFacts(
      key: TaskInstanceKey,
      upstreamTaskIds: readonly string[],
    ): Promise<TaskInstanceDependencyFacts | null> {
      const rows = await prisma.$queryRaw<
        {
          run_state: string;
          is_paused: boolean;
          active_tasks: bigint;
          run_active_tasks: bigint;
          max_active_tasks: number;
          upstream: { task_id: string; state: string | null }[] | null;
        }[]
      >`
        SELECT r.state AS run_state, d.is_paused, d.max_active_tasks,
          (SELECT count(*) FROM task_instance a WHERE a.state IN ('queued', 'running')) AS active_tasks,
          (SELECT count(*) FROM task_instance a
           WHERE a.dag_id = r.dag_id AND a.run_id = r.run_id AND a.state IN ('queued', 'running'))
            AS run_active_tasks,
          (SELECT json_agg(json_build_object('task_id', u.task_id, 'state', u.state))
           FROM task_instance u
           WHERE u.dag_id = r.dag_id AND u.run_id = r.run_id AND u.map_index = ${key.mapIndex}
             AND u.task_id = ANY(${[...upstreamTaskIds]}::text[])) AS upstream
        FROM dag_run r JOIN dag d ON d.dag_id = r.dag_id
        WHERE r.dag_id = ${key.dagId} AND r.run_id = ${key.runId}`;
      const row = rows[0];
      if (!row) return null;
      return {
        runState: row.run_state,
        isPaused: row.is_paused,
        activeTasks: Number(row.active_tasks),
        runActiveTasks: Number(row.run_active_tasks),
        maxActiveTasks: row.max_active_tasks,
        upstreamStates: new Map((row.upstream ?? []).map((u) => [u.task_id, u.state])),
      };
    },
  };
}
