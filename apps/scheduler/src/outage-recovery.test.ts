/**
 * Once the database is back, the scheduler resumes within its heartbeat interval, not after the
 * pause its tasks reached while backing off (up to SCHEDULER_DB_BACKOFF_MAX_MS). Without
 * notifications (a pooler in transaction mode) nothing else wakes the loop.
 */
import { recordingLogger } from '@dagbag/logger/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, waitFor, type Harness } from './testing/harness.ts';
import { startSchedulerBehindProxy, type SchedulerBehindProxy } from './testing/behind-proxy.ts';

let h: Harness;
let running: SchedulerBehindProxy;
const { logger, lines } = recordingLogger<{ msg: string; task?: string }>({
  name: 'scheduler',
  level: 'debug',
});

beforeAll(async () => {
  h = await createHarness();
  running = await startSchedulerBehindProxy(h, {
    env: {
      // An idle loop runs every 5 s; a failing one first pauses twice that.
      SCHEDULER_LOOP_INTERVAL_MS: '5000',
      SCHEDULER_DB_BACKOFF_MAX_MS: '600000',
      TASK_HEARTBEAT_INTERVAL_SECONDS: '1',
    },
    // Debug: every failure names its task ("still failing").
    logger,
  });
});

afterAll(async () => {
  await running.close();
  await h.close();
});

it('resumes the scheduling loop with the first heartbeat once the database is back', async () => {
  await running.proxy.cut();
  await waitFor(async () => lines.some((line) => line.task === 'scheduling-loop'), 20_000, 20);
  await running.proxy.restore();
  const loopsBefore = running.scheduler.loopsRun;
  // The loop's own pause is 10 s; the heartbeat reaches the database within a second and
  // brings it along.
  await waitFor(async () => running.scheduler.loopsRun > loopsBefore, 7_000, 50);
  expect(running.scheduler.loopsRun).toBeGreaterThan(loopsBefore);
});
