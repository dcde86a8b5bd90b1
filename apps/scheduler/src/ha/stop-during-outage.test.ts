/**
 * A scheduler stopped (SIGTERM) while the database is unreachable, holding the outcome of a try
 * that ended meanwhile: it waits until the outcome is written instead of exiting with it. Found
 * stopping a scheduler during a 60 s PostgreSQL outage: its task had exited 0, the success was
 * never written, and the other scheduler later timed the try out: the run failed. Likewise a try
 * still running at the end of the grace is handed back once the database answers, rather than
 * timed out elsewhere as a failed try.
 */
import { recordingLogger } from '@dagbag/logger/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';
import { startSchedulerBehindProxy, type SchedulerBehindProxy } from '../testing/behind-proxy.ts';

let h: Harness;
let running: SchedulerBehindProxy;
const { logger, lines } = recordingLogger({ name: 'scheduler' });

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'ends_in_outage',
    tasks: [{ task_id: 'quick', operator: 'bash', bash_command: 'sleep 1' }],
  });
  await h.writeDag({
    dag_id: 'outlives_the_grace',
    tasks: [{ task_id: 'slow', operator: 'bash', bash_command: 'sleep 60' }],
  });
  running = await startSchedulerBehindProxy(h, {
    env: { TASK_HEARTBEAT_INTERVAL_SECONDS: '1', SCHEDULER_LOOP_INTERVAL_MS: '100' },
    logger,
  });
});

afterAll(async () => {
  await running.close();
  await h.close();
});

it('a scheduler stopped during an outage writes the outcome of a try that ended meanwhile and hands back the one still running before it exits', async () => {
  await waitFor(async () => (await h.db.prisma.dag.count()) === 2, 10_000, 50);
  await h.trigger('ends_in_outage', 'r1');
  await h.trigger('outlives_the_grace', 'r1');
  await waitFor(
    async () =>
      (await h.taskStates('ends_in_outage', 'r1')).quick === 'running' &&
      (await h.taskStates('outlives_the_grace', 'r1')).slow === 'running',
    20_000,
    50,
  );
  await running.proxy.cut();
  await waitFor(
    async () => lines.some((line) => line.msg === 'could not record a finished try; will retry'),
    20_000,
    50,
  );

  let stopped = false;
  const stopping = running.scheduler.stop(0).then(() => (stopped = true));
  await waitFor(
    async () => stopped || lines.some((line) => line.msg.startsWith('waiting for the database')),
    20_000,
    50,
  );
  await running.proxy.restore();
  await stopping;

  expect((await h.taskStates('ends_in_outage', 'r1')).quick).toBe('success');
  const slow = await h.db.prisma.taskInstance.findFirstOrThrow({
    where: { dagId: 'outlives_the_grace', runId: 'r1' },
  });
  // Handed back: scheduled again, the try not counted against it (one more allowed).
  expect([slow.state, slow.tryNumber, slow.maxTries]).toEqual(['scheduled', 1, 1]);
});
