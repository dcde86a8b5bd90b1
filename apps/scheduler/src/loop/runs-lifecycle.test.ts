import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, waitFor, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;
let clock = new Date('2026-03-01T10:30:00Z');

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'hourly',
    schedule: '@hourly',
    start_date: '2026-01-01T00:00:00Z',
    max_active_runs: 1,
    tasks: [{ task_id: 't', operator: 'empty' }],
  });
  await h.writeDag({
    dag_id: 'limited',
    max_active_runs: 2,
    tasks: [{ task_id: 'wait', operator: 'bash', bash_command: 'sleep 0.5' }],
  });
  await h.writeDag({
    dag_id: 'timeout',
    tasks: [
      {
        task_id: 'hang',
        operator: 'bash',
        bash_command: 'echo started; sleep 30',
        execution_timeout_seconds: 1,
      },
    ],
  });
  await h.writeDag({
    dag_id: 'logged',
    tasks: [
      { task_id: 'say', operator: 'bash', bash_command: 'echo to-stdout; echo to-stderr >&2' },
    ],
  });
  await h.writeDag({
    dag_id: 'long',
    tasks: [
      { task_id: 'sleepy', operator: 'bash', bash_command: 'sleep 30' },
      { task_id: 'next', operator: 'empty', upstream: ['sleepy'] },
    ],
  });
  await h.writeDag({
    dag_id: 'again',
    tasks: [{ task_id: 'one', operator: 'bash', bash_command: 'true', retries: 2 }],
  });
  await h.writeDag({ dag_id: 'paused', tasks: [{ task_id: 'p', operator: 'empty' }] });
  scheduler = await h.scheduler({
    now: () => clock,
    env: { TASK_HEARTBEAT_INTERVAL_SECONDS: '1' },
  });
  await scheduler.processDagFiles();
});

afterAll(async () => {
  await h.close();
});

describe('runs', () => {
  it('are created by schedule for the latest complete interval, then for each next one as time passes', async () => {
    await scheduler.runLoopOnce();
    clock = new Date('2026-03-01T11:00:05Z');
    await scheduler.runLoopOnce();
    const runs = await h.db.prisma.dagRun.findMany({
      where: { dagId: 'hourly' },
      orderBy: { logicalDate: 'asc' },
    });
    expect(runs.map((run) => [run.runId, run.runType])).toEqual([
      ['scheduled__2026-03-01T09:00:00+00:00', 'scheduled'],
      ['scheduled__2026-03-01T10:00:00+00:00', 'scheduled'],
    ]);
  });

  it('start no more than max_active_runs at once', async () => {
    for (const id of ['a', 'b', 'c', 'd']) await h.trigger('limited', id);
    await scheduler.runLoopOnce();
    expect(await h.db.prisma.dagRun.count({ where: { dagId: 'limited', state: 'running' } })).toBe(
      2,
    );
    await loopUntil(
      scheduler,
      async () =>
        (await h.db.prisma.dagRun.count({ where: { dagId: 'limited', state: 'success' } })) === 4,
    );
  });

  it('fail a task that exceeds execution_timeout_seconds, killing its process group', async () => {
    await h.trigger('timeout', 'r1');
    await loopUntil(scheduler, async () => (await h.runState('timeout', 'r1')) === 'failed');
    const log = await readFile(join(h.logsRoot, 'timeout', 'r1', 'hang', '1.log'), 'utf8');
    expect(log).toMatch(/started\n.*execution_timeout_seconds \(1\) exceeded/);
  });

  it('write stdout and stderr to the try log', async () => {
    await h.trigger('logged', 'r1');
    await loopUntil(scheduler, async () => (await h.runState('logged', 'r1')) === 'success');
    const log = await readFile(join(h.logsRoot, 'logged', 'r1', 'say', '1.log'), 'utf8');
    expect(log).toContain('to-stdout\nto-stderr\n');
  });

  it('marked failed by an operator stay failed, and their running task is stopped', async () => {
    await h.trigger('long', 'r1');
    await loopUntil(scheduler, async () => (await h.taskStates('long', 'r1')).sleepy === 'running');
    // What the API does for PATCH state=failed (as Airflow): running -> failed, unfinished ->
    // skipped.
    await h.db.prisma.$transaction([
      h.db.prisma.dagRun.update({
        where: { dagId_runId: { dagId: 'long', runId: 'r1' } },
        data: { state: 'failed', endDate: new Date() },
      }),
      h.db.prisma.taskInstance.updateMany({
        where: { dagId: 'long', runId: 'r1', state: 'running' },
        data: { state: 'failed' },
      }),
      h.db.prisma.taskInstance.updateMany({
        where: { dagId: 'long', runId: 'r1', state: null },
        data: { state: 'skipped' },
      }),
    ]);
    await scheduler.executor.heartbeat();
    await waitFor(async () => scheduler.executor.slotsUsed === 0, 10_000, 50);
    await scheduler.runLoopOnce();
    expect(await h.runState('long', 'r1')).toBe('failed');
    expect(await h.taskStates('long', 'r1')).toEqual({ next: 'skipped', sleepy: 'failed' });
  });

  it('cleared by an operator run again, keeping their try numbers', async () => {
    await h.trigger('again', 'r1');
    await loopUntil(scheduler, async () => (await h.runState('again', 'r1')) === 'success');
    // What the API does for POST .../clear (as Airflow): run queued, instances state null,
    // max_tries raised.
    await h.db.prisma.$transaction([
      h.db.prisma.dagRun.update({
        where: { dagId_runId: { dagId: 'again', runId: 'r1' } },
        data: { state: 'queued', endDate: null },
      }),
      h.db.prisma.taskInstance.updateMany({
        where: { dagId: 'again', runId: 'r1' },
        data: { state: null, maxTries: 3 },
      }),
    ]);
    await loopUntil(scheduler, async () => (await h.runState('again', 'r1')) === 'success');
    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'again', runId: 'r1' },
    });
    expect({ state: ti.state, tryNumber: ti.tryNumber }).toEqual({
      state: 'success',
      tryNumber: 2,
    });
  });

  it('of a paused DAG wait until it is unpaused', async () => {
    await h.db.prisma.dag.update({ where: { dagId: 'paused' }, data: { isPaused: true } });
    await h.trigger('paused', 'r1');
    await scheduler.runLoopOnce();
    expect(await h.runState('paused', 'r1')).toBe('queued');
    await h.db.prisma.dag.update({ where: { dagId: 'paused' }, data: { isPaused: false } });
    await loopUntil(scheduler, async () => (await h.runState('paused', 'r1')) === 'success');
  });
});
