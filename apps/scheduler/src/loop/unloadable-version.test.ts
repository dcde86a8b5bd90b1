import { recordingLogger } from '@dagbag/logger/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'healthy',
    tasks: [{ task_id: 'only', operator: 'bash', bash_command: 'echo healthy' }],
  });
  for (const dagId of ['vanished', 'corrupt', 'abandoned'])
    await h.writeDag({
      dag_id: dagId,
      tasks: [{ task_id: 'only', operator: 'empty' }],
    });
  const processor = await h.scheduler();
  await processor.processDagFiles();
  await processor.stop(0);
});

afterAll(async () => {
  await h.close();
});

interface LogLine {
  msg: string;
  versionId?: string;
  runIds?: string[];
  cause?: string;
}

const reports = (lines: LogLine[]) =>
  lines.filter(
    (line) =>
      line.msg ===
      'DAG version cannot be loaded: its runs wait (restore it, or mark the runs failed)',
  );

/** A scheduler whose log lines are kept, with a cold DAG cache. */
async function watchedScheduler(env: Record<string, string> = {}) {
  const { logger, lines } = recordingLogger<LogLine>({ name: 'scheduler', level: 'error' });
  const scheduler = await h.scheduler({
    env,
    logger,
  });
  scheduler.dagBag.clear();
  return { scheduler, lines };
}

/** Triggers a 'healthy' run and loops a watched scheduler until it succeeds; its log lines. */
async function healthyRunSucceeds(
  runId: string,
  env: Record<string, string> = {},
): Promise<LogLine[]> {
  const { scheduler, lines } = await watchedScheduler(env);
  try {
    await h.trigger('healthy', runId);
    await loopUntil(scheduler, async () => (await h.runState('healthy', runId)) === 'success');
  } finally {
    await scheduler.stop(0);
  }
  return lines;
}

async function versionOf(dagId: string): Promise<string> {
  const version = await h.db.prisma.dagVersion.findFirstOrThrow({ where: { dagId } });
  return version.id;
}

/** Runs of `dagId`, already running, as after a scheduler started them. */
async function runningRuns(dagId: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await h.trigger(dagId, `${dagId}-${i}`);
  await h.db.prisma.dagRun.updateMany({
    where: { dagId },
    data: { state: 'running', startDate: new Date() },
  });
}

describe('a DAG version that cannot be loaded', () => {
  it('holds up only its own running runs, not the runs behind them in the queue', async () => {
    // Runs whose version could not be loaded were never marked examined: they stayed at the head
    // of the queue, and SCHEDULER_MAX_DAGRUNS_PER_LOOP of them kept every other run from being
    // examined again (the 'healthy' run below never finished).
    await runningRuns('vanished', 3);
    await h.db.prisma.serializedDag.deleteMany({ where: { dagId: 'vanished' } });
    const lines = await healthyRunSucceeds('behind-vanished', {
      SCHEDULER_MAX_DAGRUNS_PER_LOOP: '2',
    });
    expect(await h.taskStates('healthy', 'behind-vanished')).toEqual({ only: 'success' });
    expect(await h.runState('vanished', 'vanished-0')).toBe('running');
    // Reported once, naming the version and its runs, however many loops came round.
    expect(reports(lines).map((line) => [line.versionId, line.runIds?.length])).toEqual([
      [await versionOf('vanished'), 2],
    ]);
  });

  it('does not stop the runs of other DAGs from starting or moving on', async () => {
    // A document that no longer validates made the DAG cache's load throw, and the throw ended
    // the loop's step: no queued run of any DAG started while such a run was queued.
    await h.trigger('corrupt', 'corrupt-queued');
    await h.db.prisma.serializedDag.updateMany({
      where: { dagId: 'corrupt' },
      data: { data: { dag_id: 'corrupt', tasks: 'not a list' }, dagHash: 'f'.repeat(64) },
    });
    const lines = await healthyRunSucceeds('beside-corrupt');
    expect(await h.runState('corrupt', 'corrupt-queued')).toBe('queued');
    const corrupt = await versionOf('corrupt');
    expect(
      reports(lines)
        .filter((line) => line.versionId === corrupt)
        .map((line) => line.cause),
    ).toEqual([expect.stringContaining('tasks: tasks must be a list of tasks')]);
  });

  it('does not stop the scheduling loop when a task instance timed out on it', async () => {
    // Recovering a timed-out task instance read its retry delay through the DAG cache, whose load
    // threw for a document that no longer validates: the loop failed there, before launching
    // anything, every time, and no task of any DAG ran again.
    await runningRuns('abandoned', 1);
    // As if a scheduler that died had it running: no job looks after it, its heartbeat is old.
    await h.db.prisma.taskInstance.updateMany({
      where: { dagId: 'abandoned' },
      data: {
        state: 'running',
        tryNumber: 1,
        queuedByJobId: null,
        lastHeartbeatAt: new Date(Date.now() - 3_600_000),
      },
    });
    await h.db.prisma.serializedDag.updateMany({
      where: { dagId: 'abandoned' },
      data: { data: { dag_id: 'abandoned', tasks: 'not a list' }, dagHash: 'e'.repeat(64) },
    });
    await healthyRunSucceeds('beside-abandoned', { TASK_HEARTBEAT_TIMEOUT_SECONDS: '1' });
    expect(await h.taskStates('abandoned', 'abandoned-0')).toEqual({ only: 'failed' });
  });
});
