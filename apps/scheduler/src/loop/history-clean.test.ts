/**
 * `pnpm db:clean` (packages/db cleanHistory) against a real scheduler: what the scheduler derives
 * from the runs that remain, and a clean running while it claims and runs tasks.
 */
import { analyzeSchedulerTables, cleanHistory } from '@dagbag/db';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, waitFor, type Harness } from '../testing/harness.ts';

let h: Harness;

beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

describe('a clean of history', () => {
  it("does not make the scheduler re-run a catchup DAG's cleaned intervals, in its loop or after a schedule change", async () => {
    const clock = new Date('2026-03-01T01:05:00Z');
    const scheduler = await h.scheduler({ now: () => clock });
    const doc = (schedule: string) => ({
      dag_id: 'resched',
      schedule,
      start_date: '2026-03-01T00:00:00Z',
      catchup: true,
      tasks: [{ task_id: 't', operator: 'empty' as const }],
    });
    await h.writeDag(doc('*/10 * * * *'));
    await scheduler.processDagFiles();
    const scheduled = async () =>
      (
        await h.db.prisma.dagRun.findMany({
          where: { dagId: 'resched', runType: 'scheduled' },
          orderBy: { logicalDate: 'asc' },
        })
      ).map((run) => run.logicalDate!.toISOString().slice(11, 16));
    await loopUntil(scheduler, async () => (await scheduled()).length === 6);
    // A manual run after them: the DAG's latest run is not its latest scheduled run.
    await h.trigger('resched', 'manual_after');
    await loopUntil(
      scheduler,
      async () => (await h.db.prisma.dagRun.count({ where: { state: { not: 'success' } } })) === 0,
    );
    expect(await scheduled()).toEqual(['00:00', '00:10', '00:20', '00:30', '00:40', '00:50']);

    const counts = await cleanHistory(h.db.prisma, { before: new Date(Date.now() + 60_000) });
    expect(counts.dag_run).toBe(5);
    // The latest scheduled run stays: the interval the schedule continues after.
    expect(await scheduled()).toEqual(['00:50']);

    for (let i = 0; i < 4; i++) await scheduler.runLoopOnce();
    expect(await scheduled()).toEqual(['00:50']);

    // The new schedule continues from the last run's end (01:00), aligned back onto it as Airflow
    // does: one interval, 00:55-01:05, and none of the cleaned ones from start_date on.
    await h.writeDag(doc('5-59/10 * * * *'));
    await scheduler.processDagFiles();
    for (let i = 0; i < 4; i++) await scheduler.runLoopOnce();
    expect(await scheduled()).toEqual(['00:50', '00:55']);
    const dag = await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'resched' } });
    expect(dag.nextDagrunLogicalDate?.toISOString()).toBe('2026-03-01T01:05:00.000Z');
  });

  it('runs beside a scheduler claiming tasks: every new run finishes and only old history goes', async () => {
    await h.writeDag({
      dag_id: 'busy',
      tasks: [
        { task_id: 'a', operator: 'bash', bash_command: 'echo a' },
        { task_id: 'b', operator: 'bash', bash_command: 'echo b', upstream: ['a'] },
      ],
    });
    const scheduler = await h.scheduler();
    await scheduler.processDagFiles();
    // A year ago: 2,000 finished runs of two task instances each.
    await h.db.prisma.$executeRaw`
      INSERT INTO dag_run (dag_id, run_id, state, run_type, run_after, start_date, end_date, updated_at)
      SELECT 'busy', 'old_' || i, 'success', 'manual', t, t, t + interval '1 minute', t
      FROM generate_series(1, 2000) i, LATERAL (SELECT timestamptz '2025-01-01' + i * interval '1 hour' AS t) x`;
    await h.db.prisma.$executeRaw`
      INSERT INTO task_instance (dag_id, run_id, task_id, state, try_number)
      SELECT 'busy', 'old_' || i, task, 'success', 1
      FROM generate_series(1, 2000) i, unnest(ARRAY['a', 'b']) task`;
    // Planner statistics, as autovacuum keeps them on a database that grew over a year.
    await analyzeSchedulerTables(h.db.prisma);
    const fresh = Array.from({ length: 8 }, (_, i) => `new_${i}`);
    for (const runId of fresh) await h.trigger('busy', runId);
    scheduler.start();

    const claimed = () =>
      h.db.prisma.taskInstance.count({
        where: { runId: { in: fresh }, state: { in: ['queued', 'running', 'success'] } },
      });
    let firstBatch = true;
    const counts = await cleanHistory(h.db.prisma, {
      before: new Date('2026-01-01T00:00:00Z'),
      batchSize: 50,
      logsRoot: h.logsRoot,
      // The clean waits, mid-way, until the scheduler has claimed a task: they overlap for sure.
      onBatch: async () => {
        if (!firstBatch) return;
        firstBatch = false;
        await waitFor(async () => (await claimed()) > 0);
      },
    });

    expect(counts.dag_run).toBe(2000);
    expect(counts.task_instance).toBe(4000);
    await waitFor(async () => {
      const runs = await h.db.prisma.dagRun.findMany({ where: { dagId: 'busy' } });
      return runs.every((run) => run.state === 'success');
    });
    const runs = await h.db.prisma.dagRun.findMany({ where: { dagId: 'busy' } });
    expect(runs.map((run) => run.runId).sort()).toEqual(fresh);
    for (const runId of fresh)
      expect(await h.taskStates('busy', runId)).toEqual({ a: 'success', b: 'success' });
  });
});
