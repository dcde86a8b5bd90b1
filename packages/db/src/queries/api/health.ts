import type { PrismaClient } from '../../generated/prisma/client.ts';

/** Job types the scheduler may record itself under (ours and Airflow's spelling). */
const SCHEDULER_JOB_TYPES = ['scheduler', 'SchedulerJob'];

export function createHealthQueries(prisma: PrismaClient) {
  return {
    /** Throws when the database cannot answer. */
    async ping(): Promise<void> {
      await prisma.$queryRaw`SELECT 1`;
    },

    /** The latest heartbeat of any running scheduler job; null if none ever ran. */
    async latestSchedulerHeartbeat(): Promise<Date | null> {
      const job = await prisma.job.findFirst({
        where: { jobType: { in: SCHEDULER_JOB_TYPES }, state: 'running' },
        orderBy: { latestHeartbeat: 'desc' },
        select: { latestHeartbeat: true },
      });
      return job?.latestHeartbeat ?? null;
    },
  };
}
