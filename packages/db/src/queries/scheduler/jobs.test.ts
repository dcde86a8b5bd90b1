import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { failSilentSchedulerJobs, heartbeatSchedulerJob, registerSchedulerJob } from './jobs.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

describe('scheduler jobs', () => {
  it('are declared dead once their heartbeat is older than the timeout', async () => {
    const id = await registerSchedulerJob(db.prisma, { hostname: 'h', pid: 1 });
    await db.prisma.job.update({
      where: { id },
      data: { latestHeartbeat: new Date(Date.now() - 120_000) },
    });
    expect(await failSilentSchedulerJobs(db.prisma, 60)).toEqual([id]);
    expect((await db.prisma.job.findUniqueOrThrow({ where: { id } })).state).toBe('failed');
  });

  it('come back to running on their next heartbeat, which says they had been declared dead', async () => {
    const id = await registerSchedulerJob(db.prisma, { hostname: 'h', pid: 2 });
    await db.prisma.job.update({ where: { id }, data: { state: 'failed', endDate: new Date() } });
    expect(await heartbeatSchedulerJob(db.prisma, id)).toBe(true);
    expect(await db.prisma.job.findUniqueOrThrow({ where: { id } })).toMatchObject({
      state: 'running',
      endDate: null,
    });
    expect(await heartbeatSchedulerJob(db.prisma, id)).toBe(false);
  });
});
