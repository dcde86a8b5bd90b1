import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuedRunVersions } from '@dagbag/db';
import { createHarness, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;
let clock = new Date('2026-03-01T10:00:30Z');

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'minutely',
    schedule: '* * * * *',
    start_date: '2026-01-01T00:00:00Z',
    catchup: false,
    max_active_runs: 1,
    tasks: [{ task_id: 'slow', operator: 'bash', bash_command: 'sleep 200' }],
  });
  scheduler = await h.scheduler({ now: () => clock });
  await scheduler.processDagFiles();
});

afterAll(async () => {
  await h.close();
});

const runIds = async (dagId: string) =>
  (await h.db.prisma.dagRun.findMany({ where: { dagId }, orderBy: { id: 'asc' } })).map(
    (run) => run.runId,
  );

describe('a scheduled DAG at max_active_runs', () => {
  it('gets no new run while at the limit, and without catchup only the latest interval afterwards', async () => {
    await scheduler.runLoopOnce();
    expect(await runIds('minutely')).toEqual(['scheduled__2026-03-01T09:59:00+00:00']);
    for (let minute = 1; minute <= 4; minute++) {
      clock = new Date(clock.getTime() + 60_000);
      await scheduler.runLoopOnce();
    }
    expect(await runIds('minutely')).toEqual(['scheduled__2026-03-01T09:59:00+00:00']);

    await h.db.prisma.dagRun.updateMany({
      where: { dagId: 'minutely' },
      data: { state: 'success' },
    });
    await scheduler.runLoopOnce(); // clock 10:04:30: the latest complete interval is 10:03-10:04
    expect(await runIds('minutely')).toEqual([
      'scheduled__2026-03-01T09:59:00+00:00',
      'scheduled__2026-03-01T10:03:00+00:00',
    ]);
  });
});

describe('queued runs', () => {
  it('of a DAG below max_active_runs are not starved by 101 DAGs that are at their limit', async () => {
    const old = new Date('2026-01-01T00:00:00Z');
    for (let i = 0; i < 101; i++) {
      const dagId = `full_${String(i).padStart(3, '0')}`;
      await h.db.prisma.dag.create({ data: { dagId, maxActiveRuns: 1 } });
      await h.db.prisma.dagRun.createMany({
        data: [
          { dagId, runId: 'running', state: 'running', runType: 'manual', runAfter: old },
          { dagId, runId: 'waiting', state: 'queued', runType: 'manual', runAfter: old },
        ],
      });
    }
    await h.db.prisma.dag.create({ data: { dagId: 'free', maxActiveRuns: 1 } });
    await h.db.prisma.dagRun.create({
      data: { dagId: 'free', runId: 'waiting', state: 'queued', runType: 'manual' },
    });
    const listed = await queuedRunVersions(h.db.prisma, 100);
    expect(listed.map((dag) => dag.dagId)).toEqual(['free']);
  });
});
