/** The `job` table: one row per scheduler process, with a heartbeat other schedulers can judge. */
import type { Db } from './types.ts';

export const SCHEDULER_JOB_TYPE = 'SchedulerJob';

export async function registerSchedulerJob(db: Db, input: { hostname: string; pid: number }): Promise<number> {
  const rows = await db.$queryRaw<{ id: number }[]>`
    INSERT INTO job (job_type, state, hostname, pid, start_date, latest_heartbeat)
    VALUES (${SCHEDULER_JOB_TYPE}, 'running', ${input.hostname}, ${input.pid}, now(), now())
    RETURNING id`;
  return rows[0]!.id;
}

/** False when the row is no longer `running` (another scheduler declared this one dead). */
export async function heartbeatSchedulerJob(db: Db, jobId: number): Promise<boolean> {
  const count = await db.$executeRaw`
    UPDATE job SET latest_heartbeat = now() WHERE id = ${jobId} AND state = 'running'`;
  return count > 0;
}

export async function endSchedulerJob(db: Db, jobId: number, state: 'success' | 'failed'): Promise<void> {
  await db.$executeRaw`UPDATE job SET state = ${state}, end_date = now() WHERE id = ${jobId}`;
}

/** Jobs that stopped heartbeating for `timeoutSeconds` are marked failed, so their work is recovered. */
export async function failSilentSchedulerJobs(db: Db, timeoutSeconds: number): Promise<number[]> {
  const rows = await db.$queryRaw<{ id: number }[]>`
    UPDATE job SET state = 'failed', end_date = now()
    WHERE job_type = ${SCHEDULER_JOB_TYPE} AND state = 'running'
      AND latest_heartbeat < now() - (${timeoutSeconds}::float8 * interval '1 second')
    RETURNING id`;
  return rows.map((row) => row.id);
}
