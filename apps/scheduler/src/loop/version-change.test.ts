import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;
let v1: string;
let v2: string;
let gateFile: string;

/**
 * `gate` holds the run until the test opens it, so the DAG can change while the run is in progress.
 */
function dag(version: 1 | 2) {
  const gate = {
    task_id: 'gate',
    operator: 'bash' as const,
    bash_command: `while [ ! -f ${gateFile} ]; do sleep 0.05; done`,
  };
  return version === 1
    ? {
        dag_id: 'changing',
        tasks: [
          gate,
          {
            task_id: 'kept',
            operator: 'bash' as const,
            bash_command: 'echo v1',
            upstream: ['gate'],
          },
          { task_id: 'dropped', operator: 'empty' as const, upstream: ['gate'] },
        ],
      }
    : {
        dag_id: 'changing',
        tasks: [
          gate,
          {
            task_id: 'kept',
            operator: 'bash' as const,
            bash_command: 'echo v2',
            upstream: ['gate'],
          },
          { task_id: 'added', operator: 'empty' as const, upstream: ['gate'] },
        ],
      };
}

beforeAll(async () => {
  h = await createHarness();
  gateFile = join(h.workDir, 'gate-open');
  await h.writeDag(dag(1));
  scheduler = await h.scheduler();
  await scheduler.processDagFiles();
  await h.trigger('changing', 'r1');
  await loopUntil(scheduler, async () => (await h.taskStates('changing', 'r1')).gate === 'running');
  v1 = (
    await h.db.prisma.dagVersion.findFirstOrThrow({
      where: { dagId: 'changing', versionNumber: 1 },
    })
  ).id;

  await h.writeDag(dag(2));
  const summary = await scheduler.processDagFiles();
  expect(summary.newVersions).toEqual(['changing']);
  v2 = (
    await h.db.prisma.dagVersion.findFirstOrThrow({
      where: { dagId: 'changing', versionNumber: 2 },
    })
  ).id;
  await scheduler.runLoopOnce();
});

afterAll(async () => {
  await h.close();
});

async function instance(taskId: string) {
  return h.db.prisma.taskInstance.findFirst({ where: { dagId: 'changing', runId: 'r1', taskId } });
}

describe('a DAG file changed while a run is in progress', () => {
  it('creates a new version because the old one is in use', () => {
    expect(v2).not.toBe(v1);
  });
  it('re-points the running task instance to the new version', async () => {
    expect(await instance('gate')).toMatchObject({ state: 'running', dagVersionId: v2 });
  });
  it('re-points a task instance in state null to the new version', async () => {
    expect(await instance('kept')).toMatchObject({ state: null, dagVersionId: v2 });
  });
  it('creates a task instance for the new task', async () => {
    expect(await instance('added')).toMatchObject({ state: null, dagVersionId: v2 });
  });
  it('marks the instance of the removed task removed', async () => {
    expect(await instance('dropped')).toMatchObject({ state: 'removed' });
  });
  it('records the run on the new version and finishes it with the new DAG', async () => {
    await writeFile(gateFile, '');
    await loopUntil(scheduler, async () => (await h.runState('changing', 'r1')) === 'success');
    expect(await h.taskStates('changing', 'r1')).toEqual({
      added: 'success',
      dropped: 'removed',
      gate: 'success',
      kept: 'success',
    });
    const run = await h.db.prisma.dagRun.findFirstOrThrow({
      where: { dagId: 'changing', runId: 'r1' },
    });
    expect({ created: run.createdDagVersionId, current: run.currentDagVersionId }).toEqual({
      created: v1,
      current: v2,
    });
  });
});
