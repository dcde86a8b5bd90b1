import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@dagbag/logger';
import { createHarness, waitFor, type Harness } from './testing/harness.ts';
import { startSchedulerBehindProxy, type SchedulerBehindProxy } from './testing/behind-proxy.ts';

let h: Harness;
let running: SchedulerBehindProxy;

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'long_task',
    tasks: [{ task_id: 'sleeper', operator: 'bash', bash_command: 'sleep 6', retries: 2 }],
  });
  running = await startSchedulerBehindProxy(h, {
    env: {
      SCHEDULER_DB_BACKOFF_MAX_MS: '200',
      TASK_HEARTBEAT_TIMEOUT_SECONDS: '2',
      TASK_HEARTBEAT_INTERVAL_SECONDS: '1',
    },
    logger: silentLogger,
  });
});

afterAll(async () => {
  await running.close();
  await h.close();
});

describe('a database outage longer than the heartbeat timeout', () => {
  it('leaves a task that kept running alone: no retry, one try, success', async () => {
    await waitFor(async () => (await h.db.prisma.dag.count()) === 1, 10_000, 50);
    await h.trigger('long_task', 'r1');
    await waitFor(
      async () => (await h.taskStates('long_task', 'r1')).sleeper === 'running',
      10_000,
      50,
    );
    await running.proxy.cut();
    // every heartbeat is now older than the timeout
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    await running.proxy.restore();
    await waitFor(
      async () => ['success', 'failed'].includes((await h.runState('long_task', 'r1')) ?? ''),
      30_000,
      100,
    );

    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'long_task', runId: 'r1', taskId: 'sleeper' },
    });
    expect({
      state: ti.state,
      tryNumber: ti.tryNumber,
      run: await h.runState('long_task', 'r1'),
    }).toEqual({ state: 'success', tryNumber: 1, run: 'success' });
  }, 45_000);
});
