import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(() => h.close());

const events = (event: string, dagId: string) =>
  h.db.prisma.eventLog.findMany({ where: { event, dagId }, orderBy: { id: 'asc' } });

describe("the scheduler's events in the event log", () => {
  it('records each failed try, the last one as failed, with owner scheduler', async () => {
    await h.writeDag({
      dag_id: 'failing',
      tasks: [
        {
          task_id: 'boom',
          operator: 'bash',
          bash_command: 'exit 3',
          retries: 1,
          retry_delay_seconds: 0,
        },
      ],
    });
    const scheduler = await h.scheduler();
    await scheduler.processDagFiles();
    await h.trigger('failing', 'r1');
    await loopUntil(scheduler, async () => (await h.runState('failing', 'r1')) === 'failed');
    const retried = await events('up_for_retry', 'failing');
    const failed = await events('failed', 'failing');
    expect(retried.map((e) => [e.taskId, e.tryNumber, e.owner])).toEqual([
      ['boom', 1, 'scheduler'],
    ]);
    expect(failed.map((e) => [e.taskId, e.runId, e.tryNumber, e.owner])).toEqual([
      ['boom', 'r1', 2, 'scheduler'],
    ]);
    await scheduler.stop(0); // frees the DAG processor lock for the next test's scheduler
  });

  it('records a heartbeat timeout', async () => {
    await h.writeDag({
      dag_id: 'abandoned',
      tasks: [{ task_id: 'lost', operator: 'bash', bash_command: 'true' }],
    });
    const scheduler = await h.scheduler({ env: { TASK_HEARTBEAT_TIMEOUT_SECONDS: '1' } });
    await scheduler.processDagFiles();
    await h.trigger('abandoned', 'r1');
    await loopUntil(
      scheduler,
      async () => (await h.taskStates('abandoned', 'r1')).lost !== undefined,
    );
    // As if a scheduler that died had it running: no job looks after it, its heartbeat is old.
    await h.db.prisma.taskInstance.updateMany({
      where: { dagId: 'abandoned', runId: 'r1' },
      data: {
        state: 'running',
        tryNumber: 1,
        queuedByJobId: null,
        lastHeartbeatAt: new Date(Date.now() - 3_600_000),
      },
    });
    await loopUntil(
      scheduler,
      async () => (await events('heartbeat timeout', 'abandoned')).length > 0,
    );
    const [event] = await events('heartbeat timeout', 'abandoned');
    expect(event).toMatchObject({ taskId: 'lost', runId: 'r1', tryNumber: 1, owner: 'scheduler' });
    expect(JSON.parse(event!.extra!)).toMatchObject({ state: 'failed' });
  });
});
