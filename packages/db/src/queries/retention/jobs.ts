/**
 * Cleaning scheduler job rows (`pnpm db:clean`, table `job`): one row per scheduler process ever
 * started. A job goes once it ended (not `running`), its last heartbeat is older than the moment
 * given, and no queued or running task instance names it as the scheduler that took it (those
 * are judged by their job's state).
 */
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../scheduler/types.ts';

function cleanableJobSql(before: Date): Prisma.Sql {
  return Prisma.sql`j.state <> 'running' AND j.latest_heartbeat < ${before}
    AND NOT EXISTS (SELECT 1 FROM task_instance ti
                    WHERE ti.queued_by_job_id = j.id AND ti.state IN ('queued', 'running'))`;
}

/** Deletes up to `limit` cleanable jobs; how many it deleted. */
export function deleteJobBatch(db: Db, input: { before: Date; limit: number }): Promise<number> {
  return db.$executeRaw`
    WITH doomed AS (
      SELECT j.id FROM job j WHERE ${cleanableJobSql(input.before)}
      ORDER BY j.id LIMIT ${input.limit} FOR UPDATE OF j SKIP LOCKED
    )
    DELETE FROM job x USING doomed d WHERE x.id = d.id`;
}

/** How many jobs are cleanable (a dry run). */
export async function countJobsToClean(db: Db, before: Date): Promise<number> {
  const rows = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM job j WHERE ${cleanableJobSql(before)}`;
  return rows[0]!.n;
}
