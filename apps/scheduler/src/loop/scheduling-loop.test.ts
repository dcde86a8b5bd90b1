import { createPrismaClient } from '@dagbag/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'diamond',
    tasks: [
      { task_id: 'extract', operator: 'bash', bash_command: 'echo extract' },
      { task_id: 'left', operator: 'bash', bash_command: 'echo left', upstream: ['extract'] },
      { task_id: 'right', operator: 'empty', upstream: ['extract'] },
      { task_id: 'load', operator: 'bash', bash_command: 'echo load', upstream: ['left', 'right'] },
    ],
  });
  await h.writeDag({
    dag_id: 'failing',
    tasks: [
      {
        task_id: 'flaky',
        operator: 'bash',
        bash_command: 'exit 3',
        retries: 1,
        retry_delay_seconds: 1,
      },
      { task_id: 'after', operator: 'bash', bash_command: 'echo never', upstream: ['flaky'] },
      { task_id: 'after_after', operator: 'empty', upstream: ['after'] },
    ],
  });
  scheduler = await h.scheduler();
  await scheduler.processDagFiles();
});

afterAll(async () => {
  await h.close();
});

/** The diamond's task states once a run of it succeeded. */
const DIAMOND_SUCCEEDED = {
  extract: 'success',
  left: 'success',
  right: 'success',
  load: 'success',
};

/**
 * A second scheduler with DATABASE_POOL_MAX=1 and an empty DAG cache (as after a reconciliation,
 * or when a DAG changed since its version was read).
 */
async function coldSchedulerWithOneConnection() {
  const prisma = createPrismaClient({
    url: h.db.url,
    applicationName: 'dagbag-scheduler-pool-of-one',
    settings: {
      DATABASE_POOL_MAX: 1,
      DATABASE_CONNECT_TIMEOUT_MS: 1000,
      DATABASE_IDLE_TIMEOUT_MS: 10_000,
      DATABASE_STATEMENT_TIMEOUT_MS: 30_000,
    },
  });
  const lone = await h.scheduler({ prisma });
  lone.dagBag.clear();
  return { lone, prisma };
}

describe('the scheduling loop', () => {
  it('runs a diamond DAG to success', async () => {
    await h.trigger('diamond', 'r1');
    await loopUntil(
      scheduler,
      async () =>
        (await h.runState('diamond', 'r1')) !== 'running' &&
        (await h.runState('diamond', 'r1')) !== 'queued',
    );
    expect(await h.runState('diamond', 'r1')).toBe('success');
    expect(await h.taskStates('diamond', 'r1')).toEqual(DIAMOND_SUCCEEDED);
  });

  it('moves running runs on with a pool of one connection and a cold DAG cache', async () => {
    // The examining transaction loaded a version it did not hold through a second pooled
    // connection: with DATABASE_POOL_MAX=1 it waited on itself until the pool's timeout, every
    // loop, and running runs never moved again (seen with pnpm dev: 1,026 runs stuck).
    await h.trigger('diamond', 'pool-of-one');
    await loopUntil(
      scheduler,
      async () => (await h.runState('diamond', 'pool-of-one')) === 'running',
    );
    const { lone, prisma } = await coldSchedulerWithOneConnection();
    try {
      await loopUntil(lone, async () => (await h.runState('diamond', 'pool-of-one')) === 'success');
    } finally {
      await lone.stop(0);
      await prisma.$disconnect();
    }
    expect(await h.taskStates('diamond', 'pool-of-one')).toEqual(DIAMOND_SUCCEEDED);
  });

  it('creates and runs a scheduled run with a pool of one connection and a cold DAG cache', async () => {
    // The creating transaction loaded the version it did not hold through a second pooled
    // connection: with DATABASE_POOL_MAX=1 it waited on itself until the pool's timeout, every
    // loop, and the scheduled DAG never got a run.
    await h.writeDag({
      dag_id: 'hourly_lone',
      schedule: '0 * * * *',
      start_date: '2026-01-01T00:00:00Z',
      catchup: false,
      tasks: [{ task_id: 'only', operator: 'bash', bash_command: 'echo hourly' }],
    });
    await scheduler.processDagFiles();
    const { lone, prisma } = await coldSchedulerWithOneConnection();
    const runsOf = () => h.db.prisma.dagRun.findMany({ where: { dagId: 'hourly_lone' } });
    try {
      await loopUntil(lone, async () => (await runsOf()).some((run) => run.state === 'success'));
    } finally {
      await lone.stop(0);
      await prisma.$disconnect();
    }
    const [run] = await runsOf();
    expect({ runType: run!.runType, id: run!.runId.startsWith('scheduled__') }).toEqual({
      runType: 'scheduled',
      id: true,
    });
    expect(await h.taskStates('hourly_lone', run!.runId)).toEqual({ only: 'success' });
  });

  it('retries a failing task once, then fails it and marks its downstream upstream_failed', async () => {
    await h.trigger('failing', 'r1');
    const seen = new Set<string | null>();
    await loopUntil(scheduler, async () => {
      seen.add((await h.taskStates('failing', 'r1')).flaky ?? null);
      return (await h.runState('failing', 'r1')) === 'failed';
    });
    expect(seen).toContain('up_for_retry');
    const flaky = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'failing', runId: 'r1', taskId: 'flaky' },
    });
    expect({ state: flaky.state, tryNumber: flaky.tryNumber }).toEqual({
      state: 'failed',
      tryNumber: 2,
    });
    expect(await h.taskStates('failing', 'r1')).toEqual({
      flaky: 'failed',
      after: 'upstream_failed',
      after_after: 'upstream_failed',
    });
  });
});
