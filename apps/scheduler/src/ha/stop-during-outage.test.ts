/**
 * A scheduler stopped (SIGTERM) while the database is unreachable, holding the outcome of a try
 * that ended meanwhile: it waits until the outcome is written instead of exiting with it. Found
 * stopping a scheduler during a 60 s PostgreSQL outage: its task had exited 0, the success was
 * never written, and the other scheduler later timed the try out: the run failed.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '@dagbag/logger';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';
import { startSchedulerBehindProxy, type SchedulerBehindProxy } from '../testing/behind-proxy.ts';

let h: Harness;
let running: SchedulerBehindProxy;
const messages: string[] = [];

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'ends_in_outage',
    tasks: [{ task_id: 'quick', operator: 'bash', bash_command: 'sleep 1' }],
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        messages.push((JSON.parse(line) as { msg: string }).msg);
      done();
    },
  });
  running = await startSchedulerBehindProxy(h, {
    env: { TASK_HEARTBEAT_INTERVAL_SECONDS: '1', SCHEDULER_LOOP_INTERVAL_MS: '100' },
    logger: createLogger({ name: 'scheduler', level: 'info', destination: sink }),
  });
});

afterAll(async () => {
  await running.close();
  await h.close();
});

it('a scheduler stopped during an outage writes the outcome of a try that ended meanwhile before it exits', async () => {
  await waitFor(async () => (await h.db.prisma.dag.count()) === 1, 10_000, 50);
  await h.trigger('ends_in_outage', 'r1');
  await waitFor(
    async () => (await h.taskStates('ends_in_outage', 'r1')).quick === 'running',
    20_000,
    50,
  );
  await running.proxy.cut();
  await waitFor(
    async () => messages.includes('could not record a finished try; will retry'),
    20_000,
    50,
  );

  let stopped = false;
  const stopping = running.scheduler.stop(0).then(() => (stopped = true));
  await waitFor(
    async () => stopped || messages.some((msg) => msg.startsWith('waiting for the database')),
    20_000,
    50,
  );
  await running.proxy.restore();
  await stopping;

  expect((await h.taskStates('ends_in_outage', 'r1')).quick).toBe('success');
});
