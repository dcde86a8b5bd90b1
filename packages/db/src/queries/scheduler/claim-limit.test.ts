import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { registerSchedulerJob } from './jobs.ts';
import { claimScheduledTaskInstances } from './task-instances.ts';

// A freshly migrated database of its own: the planner's estimates for empty, never analyzed
// tables are what made it re-run a `LIMIT ... FOR UPDATE SKIP LOCKED` semi-join per outer row.
let db: TestDatabase;
let job: number;

beforeAll(async () => {
  db = await createTestDatabase();
  job = await registerSchedulerJob(db.prisma, { hostname: 'a', pid: 1 });
  for (let d = 0; d < 4; d++) {
    await db.prisma.dag.create({ data: { dagId: `d${d}` } });
    for (let r = 0; r < 3; r++) {
      await db.prisma.dagRun.create({
        data: { dagId: `d${d}`, runId: `r${r}`, state: 'running', runType: 'manual' },
      });
      await db.prisma.taskInstance.createMany({
        data: Array.from({ length: 5 }, (_, i) => ({
          dagId: `d${d}`,
          runId: `r${r}`,
          taskId: `t${i}`,
          state: 'scheduled',
        })),
      });
    }
  }
});

afterAll(async () => {
  await db.drop();
});

describe('a claim', () => {
  it('never hands out more task instances than its limit', async () => {
    const counts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const claimed = await claimScheduledTaskInstances(db.prisma, {
        jobId: job,
        limit: 2,
        hostname: 'a',
        heartbeatTimeoutSeconds: 60,
      });
      counts.push(claimed.length);
    }
    expect(counts).toEqual(Array.from({ length: 10 }, () => 2));
  });
});
