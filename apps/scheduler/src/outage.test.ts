import { recordingLogger } from '@dagbag/logger/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, waitFor, type Harness } from './testing/harness.ts';
import { startSchedulerBehindProxy, type SchedulerBehindProxy } from './testing/behind-proxy.ts';

let h: Harness;
let running: SchedulerBehindProxy;
const { logger, lines } = recordingLogger<{
  level: number;
  msg: string;
  task?: string;
  err?: { message?: string };
}>({ name: 'scheduler' });

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'after_outage',
    tasks: [{ task_id: 't', operator: 'bash', bash_command: 'true' }],
  });
  running = await startSchedulerBehindProxy(h, {
    env: { SCHEDULER_DB_BACKOFF_MAX_MS: '400' },
    logger,
  });
});

afterAll(async () => {
  await running.close();
  await h.close();
});

describe('when the database is lost', () => {
  it('the scheduler logs one error for the whole outage, backs off, and recovers by itself', async () => {
    await waitFor(async () => (await h.db.prisma.dag.count()) === 1, 10_000, 50);
    await running.proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await running.proxy.restore();
    await h.trigger('after_outage', 'r1');
    await waitFor(async () => (await h.runState('after_outage', 'r1')) === 'success', 20_000, 100);

    // The recovery is logged once every task has worked for a few seconds.
    await waitFor(
      async () => lines.some((line) => line.msg.startsWith('scheduler reaches the database again')),
      20_000,
      100,
    );
    const lost = lines.filter((line) => line.msg.startsWith('scheduler cannot reach the database'));
    const back = lines.filter((line) =>
      line.msg.startsWith('scheduler reaches the database again'),
    );
    const incidents = lost.map((line) => `${line.task}: ${line.err?.message}`);
    expect({ lost: lost.length, back: back.length }, JSON.stringify(incidents)).toEqual({
      lost: 1,
      back: 1,
    });
  });
});
