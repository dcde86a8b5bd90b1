/**
 * Cleaning the audit trail (`pnpm db:clean`, table `log`): events older than a moment, a batch at
 * a time, oldest first (by the `dttm` index).
 */
import type { Db } from '../scheduler/types.ts';

/** Deletes up to `limit` events older than `before`; how many it deleted. */
export function deleteEventLogBatch(
  db: Db,
  input: { before: Date; limit: number },
): Promise<number> {
  return db.$executeRaw`
    WITH doomed AS (
      SELECT id FROM log WHERE dttm < ${input.before} ORDER BY dttm, id LIMIT ${input.limit}
    )
    DELETE FROM log l USING doomed d WHERE l.id = d.id`;
}

/** How many events are older than `before` (a dry run). */
export async function countEventLogToClean(db: Db, before: Date): Promise<number> {
  const rows = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM log WHERE dttm < ${before}`;
  return rows[0]!.n;
}
