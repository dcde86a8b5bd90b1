/** The `job` table: one row per scheduler process, with a heartbeat other schedulers can judge. */
import type { Db } from './types.ts';

export const SCHEDULER_JOB_TYPE = 'SchedulerJob';

export async function registerSchedulerJob(
  db: Db,
  input: { hostname: string; pid: number },
): Promise<number> {
  const rows = await db.$queryRaw<{ id: number }[]>`
    INSERT INTO job (job_type, state, hostname, pid, start_date, latest_heartbeat)
    VALUES (${SCHEDULER_JOB_TYPE}, 'running', ${input.hostname}, ${input.pid}, now(), now())
    RETURNING id`;
  return rows[0]!.id;
}

/**
 * Writes the job's heartbeat. Returns true when the row had been declared dead meanwhile (another
 * scheduler saw no heartbeat for the timeout, e.g. during a long database outage): the row is
 * running again from now on, so work this scheduler claims next is not mistaken for orphaned.
 * What it held before was already recovered elsewhere, and its executor stops those tries.
 */
export async function heartbeatSchedulerJob(db: Db, jobId: number): Promise<boolean> {
  const rows = await db.$queryRaw<{ wasDeclaredDead: boolean }[]>`
    UPDATE job j SET latest_heartbeat = now(), state = 'running', end_date = NULL
    FROM (SELECT id, state FROM job WHERE id = ${jobId} FOR UPDATE) before
    WHERE j.id = before.id
    RETURNING before.state <> 'running' AS "wasDeclaredDead"`;
  return rows[0]?.wasDeclaredDead ?? false;
}

export async function endSchedulerJob(
  db: Db,
  jobId: number,
  state: 'success' | 'failed',
): Promise<void> {
  await db.$executeRaw`UPDATE job SET state = ${state}, end_date = now() WHERE id = ${jobId}`;
}

/**
 * Jobs that stopped heartbeating for `timeoutSeconds` are marked failed, so their work is
 * recovered.
 */
export async function failSilentSchedulerJobs(db: Db, timeoutSeconds: number): Promise<number[]> {
  const rows = await db.$queryRaw<{ id: number }[]>`
    UPDATE job SET state = 'failed', end_date = now()
    WHERE job_type = ${SCHEDULER_JOB_TYPE} AND state = 'running'
      AND latest_heartbeat < now() - (${timeoutSeconds}::float8 * interval '1 second')
    RETURNING id`;
  return rows.map((row) => row.id);
}
