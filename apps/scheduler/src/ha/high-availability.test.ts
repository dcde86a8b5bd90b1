import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnScheduler, type ChildScheduler } from '../testing/child-scheduler.ts';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';

let h: Harness;
const children: ChildScheduler[] = [];

function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  return h.childEnv({
    TASK_HEARTBEAT_TIMEOUT_SECONDS: '3',
    // Both wake on the same notifications: SKIP LOCKED, not the interval, keeps them apart.
    DATABASE_NOTIFICATIONS: 'on',
    ...extra,
  });
}

async function start(extra: Record<string, string> = {}): Promise<ChildScheduler> {
  const child = await spawnScheduler(childEnv(extra));
  children.push(child);
  return child;
}

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
  await h.close();
});

describe('several schedulers on one database', () => {
  it('run 100 runs of a 5-task DAG with every task executed exactly once and every run successful', async () => {
    const lines = join(h.workDir, 'executions.txt');
    const append = `echo "$AIRFLOW_CTX_DAG_RUN_ID $AIRFLOW_CTX_TASK_ID" >> ${lines}`;
    await h.writeDag({
      dag_id: 'five',
      max_active_runs: 100,
      tasks: [
        { task_id: 'a', operator: 'bash', bash_command: append },
        { task_id: 'b', operator: 'bash', bash_command: append, upstream: ['a'] },
        { task_id: 'c', operator: 'bash', bash_command: append, upstream: ['a'] },
        { task_id: 'd', operator: 'bash', bash_command: append, upstream: ['b', 'c'] },
        { task_id: 'e', operator: 'bash', bash_command: append, upstream: ['d'] },
      ],
    });
    await h.storeDags();
    for (let i = 0; i < 100; i++) await h.trigger('five', `run_${String(i).padStart(3, '0')}`);
    const schedulers = [await start(), await start()];

    await waitFor(
      async () =>
        (await h.db.prisma.dagRun.count({
          where: { dagId: 'five', state: { in: ['queued', 'running'] } },
        })) === 0,
      90_000,
      250,
    );

    const written = (await readFile(lines, 'utf8')).trim().split('\n');
    expect(written).toHaveLength(500);
    expect(new Set(written).size).toBe(500);
    expect(await h.db.prisma.dagRun.count({ where: { dagId: 'five', state: 'success' } })).toBe(
      100,
    );
    // Both schedulers took part.
    const jobs = await h.db.prisma.taskInstance.groupBy({
      by: ['queuedByJobId'],
      where: { dagId: 'five' },
      _count: true,
    });
    expect(jobs.length).toBe(2);
    for (const child of schedulers) child.process.kill('SIGTERM');
    const exits = await Promise.all(schedulers.map((child) => child.exited));
    expect(
      exits.map((exit) => exit.code),
      schedulers.map((c) => c.output().slice(-1500)).join('\n'),
    ).toEqual([0, 0]);
  }, 120_000);

  it('retry a task whose scheduler was killed with SIGKILL mid-task, within the heartbeat timeout', async () => {
    const marks = join(h.workDir, 'tries.txt');
    await h.writeDag({
      dag_id: 'killed',
      tasks: [
        {
          task_id: 'slow',
          operator: 'bash',
          retries: 1,
          retry_delay_seconds: 0,
          bash_command: `echo "try $AIRFLOW_CTX_TRY_NUMBER started" >> ${marks}; sleep 2; echo "try $AIRFLOW_CTX_TRY_NUMBER finished" >> ${marks}`,
        },
      ],
    });
    await h.storeDags();
    const first = await start();
    const second = await start();
    await h.trigger('killed', 'r1');
    await waitFor(async () => (await h.taskStates('killed', 'r1')).slow === 'running', 30_000);
    // `running` is written before the process starts: under load, kill only once the try is under
    // way.
    await waitFor(
      async () => (await readFile(marks, 'utf8').catch(() => '')).includes('try 1 started'),
      30_000,
    );
    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'killed', runId: 'r1' },
    });
    const owner = await h.db.prisma.job.findUniqueOrThrow({ where: { id: ti.queuedByJobId! } });
    const victim = [first, second].find((child) => child.process.pid === owner.pid)!;
    const survivor = victim === first ? second : first;
    victim.process.kill('SIGKILL');
    const killedAt = Date.now();

    await waitFor(
      async () => {
        const row = await h.db.prisma.taskInstance.findFirstOrThrow({
          where: { dagId: 'killed', runId: 'r1' },
        });
        return row.tryNumber === 2 && row.state !== 'up_for_retry';
      },
      15_000,
      50,
    );
    const retriedAfterMs = Date.now() - killedAt;
    await waitFor(async () => (await h.runState('killed', 'r1')) === 'success', 15_000);

    const retried = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'killed', runId: 'r1' },
    });
    const survivorJob = await h.db.prisma.job.findFirstOrThrow({
      where: { pid: survivor.process.pid! },
    });
    expect({
      state: retried.state,
      tryNumber: retried.tryNumber,
      by: retried.queuedByJobId,
    }).toEqual({ state: 'success', tryNumber: 2, by: survivorJob.id });
    // Noticed once the 3 s timeout has passed (the last heartbeat was up to 1 s before the kill),
    // then claimed and started: well under twice the timeout.
    expect(retriedAfterMs).toBeLessThan(2 * 3_000);
    survivor.process.kill('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
  }, 60_000);

  it("never let the killed scheduler's task process run on beside the retry", async () => {
    // The first try was killed with its scheduler (the group watchdog), so it never finished.
    const marks = await readFile(join(h.workDir, 'tries.txt'), 'utf8');
    expect(marks.trim().split('\n')).toEqual(['try 1 started', 'try 2 started', 'try 2 finished']);
  });
});

/** Waits until the task runs; on a timeout, says what the task and its scheduler were doing. */
async function waitUntilRunning(child: ChildScheduler, dagId: string, taskId: string) {
  let states: Record<string, string | null> = {};
  try {
    await waitFor(async () => {
      states = await h.taskStates(dagId, 'r1');
      return states[taskId] === 'running';
    }, 30_000);
  } catch (error) {
    const exit = child.process.exitCode;
    throw new Error(
      `${(error as Error).message}: task states ${JSON.stringify(states)}, scheduler ` +
        `${exit === null ? 'running' : `exited ${exit}`}; its last output:\n` +
        child.output().slice(-4000),
      { cause: error },
    );
  }
}

describe('SIGTERM', () => {
  // A test that failed before its SIGTERM must not leave its scheduler holding the DAG-processor
  // lock for the next one.
  afterEach(async () => {
    for (const child of children)
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill('SIGKILL');
        await child.exited;
      }
  });

  it('lets a running task finish and exits 0', async () => {
    // Long enough to be seen running by a poll on a loaded machine (1 s once was not, in CI).
    await h.writeDag({
      dag_id: 'graceful',
      tasks: [{ task_id: 'short', operator: 'bash', bash_command: 'sleep 3' }],
    });
    await h.storeDags();
    const child = await start();
    await h.trigger('graceful', 'r1');
    await waitUntilRunning(child, 'graceful', 'short');
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect((await h.taskStates('graceful', 'r1')).short).toBe('success');
  }, 60_000);

  it('hands back a task that outlives the grace period, without counting the try', async () => {
    await h.writeDag({
      dag_id: 'handback',
      tasks: [{ task_id: 'long', operator: 'bash', bash_command: 'sleep 30' }],
    });
    await h.storeDags();
    const child = await start({ SCHEDULER_SHUTDOWN_GRACE_SECONDS: '0' });
    await h.trigger('handback', 'r1');
    await waitUntilRunning(child, 'handback', 'long');
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'handback', runId: 'r1' },
    });
    // Claimable at once: its try's process is gone (released: no heartbeat) or its job has ended.
    const job = await h.db.prisma.job.findUniqueOrThrow({ where: { id: ti.queuedByJobId! } });
    expect({
      state: ti.state,
      tryNumber: ti.tryNumber,
      maxTries: ti.maxTries,
      claimable: ti.lastHeartbeatAt === null || job.state !== 'running',
    }).toEqual({ state: 'scheduled', tryNumber: 1, maxTries: 1, claimable: true });
  }, 60_000);
});
