import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({ dag_id: 'ahead', tasks: [{ task_id: 't', operator: 'empty' }] });
  scheduler = await h.scheduler();
  await scheduler.processDagFiles();
});

afterAll(async () => {
  await h.close();
});

describe('a run triggered for a logical date still ahead', () => {
  it('starts at its run_after but runs no task until its logical date has come, as Airflow', async () => {
    // A client that gives a data interval with its logical date gets run_after = now (Airflow's
    // validate_context); Airflow's scheduler then leaves the run's tasks alone while the logical
    // date is in the future.
    await h.trigger('ahead', 'now');
    await h.trigger('ahead', 'tomorrow');
    const tomorrow = new Date(Date.now() + 86_400_000);
    await h.db.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'ahead', runId: 'tomorrow' } },
      data: { logicalDate: tomorrow, dataIntervalStart: tomorrow, dataIntervalEnd: tomorrow },
    });

    await loopUntil(scheduler, async () => (await h.runState('ahead', 'now')) === 'success');
    for (let i = 0; i < 3; i++) await scheduler.runLoopOnce();
    expect(await h.runState('ahead', 'tomorrow')).toBe('running');
    expect(await h.taskStates('ahead', 'tomorrow')).toEqual({ t: null });

    // Its date comes (moved back here, as the clock of the database cannot be moved on).
    await h.db.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'ahead', runId: 'tomorrow' } },
      data: { logicalDate: new Date(Date.now() - 1000) },
    });
    await loopUntil(scheduler, async () => (await h.runState('ahead', 'tomorrow')) === 'success');
  });
});
