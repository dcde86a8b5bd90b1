import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'chain',
    max_active_runs: 50,
    tasks: [
      { task_id: 'a', operator: 'empty' },
      { task_id: 'b', operator: 'empty', upstream: ['a'] },
    ],
  });
});

afterAll(async () => {
  await h.close();
});

describe('a scheduling loop that changed something', () => {
  it('is followed at once by the next, so runs beyond SCHEDULER_MAX_DAGRUNS_PER_LOOP need no interval', async () => {
    // A minute between loops and no notifications: only the loops' own progress can bring the
    // next one. 12 runs at 4 per loop take a start loop and three examine loops.
    const scheduler = await h.scheduler({
      env: { SCHEDULER_LOOP_INTERVAL_MS: '60000', SCHEDULER_MAX_DAGRUNS_PER_LOOP: '4' },
      notifications: false,
      processDagFiles: false,
    });
    await scheduler.processDagFiles();
    for (let i = 0; i < 12; i++) await h.trigger('chain', `r${i}`);
    scheduler.start();
    await waitFor(
      async () =>
        (await h.db.prisma.dagRun.count({ where: { dagId: 'chain', state: 'success' } })) === 12,
      10_000,
      20,
    );
    // The loop after the last change finds nothing to do and waits for the interval.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const loops = scheduler.loopsRun;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(scheduler.loopsRun).toBe(loops);
    await scheduler.stop(0);
  });
});
