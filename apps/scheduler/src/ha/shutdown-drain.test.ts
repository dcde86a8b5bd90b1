import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h.close();
});

describe('a scheduler draining on shutdown', () => {
  it('keeps its job alive for a grace longer than the heartbeat timeout, so its running task is not failed by another scheduler', async () => {
    await h.writeDag({
      dag_id: 'drain',
      tasks: [{ task_id: 'long', operator: 'bash', bash_command: 'sleep 7' }],
    });
    const env = { TASK_HEARTBEAT_TIMEOUT_SECONDS: '3', SCHEDULER_LOOP_INTERVAL_MS: '100' };
    const draining = await h.scheduler({ env });
    await draining.processDagFiles();
    draining.start();
    await h.trigger('drain', 'r1');
    await waitFor(async () => (await h.taskStates('drain', 'r1')).long === 'running', 20_000, 50);

    const other = await h.scheduler({ env, processDagFiles: false });
    other.start();
    await draining.stop(20_000); // returns once the task finished
    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'drain', runId: 'r1' },
    });
    expect([ti.state, ti.tryNumber]).toEqual(['success', 1]);
    await waitFor(async () => (await h.runState('drain', 'r1')) === 'success', 10_000);
  }, 60_000);
});
