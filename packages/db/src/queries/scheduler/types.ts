import type { PrismaClient, Prisma } from '../../client.ts';

/**
 * A client or an interactive transaction: queries that need no transaction of their own take
 * either.
 */
export type Db = PrismaClient | Prisma.TransactionClient;

/** What the database needs to know about one task of a DAG version to create its instance. */
export interface TaskSpec {
  taskId: string;
  operator: string;
  /** max_tries of a new instance (Airflow: the task's retries). */
  retries: number;
}

/**
 * A DAG version's graph flattened into parallel arrays, the shape `unnest()` takes: the scheduling
 * decision runs inside PostgreSQL and only the task instances that change come back.
 */
export interface GraphArrays {
  taskIds: string[];
  triggerRules: string[];
  /** `empty` tasks succeed when they become ready; no process runs for them (as Airflow does). */
  isEmpty: boolean[];
  edgeTaskIds: string[];
  edgeUpstreamIds: string[];
  leafTaskIds: string[];
}
