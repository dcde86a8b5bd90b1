/**
 * Planner statistics for the scheduler's tables. In production autovacuum keeps them fresh
 * (autoanalyze); a benchmark that bulk-seeds rows and measures at once refreshes them itself, as
 * a long-running database would have, or PostgreSQL plans its joins for empty tables.
 */
import type { Db } from './types.ts';

export async function analyzeSchedulerTables(db: Db): Promise<void> {
  await db.$executeRaw`ANALYZE dag, dag_version, serialized_dag, dag_run, task_instance`;
}
