import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;
const clock = new Date('2026-03-01T01:05:00Z');

beforeAll(async () => {
  h = await createHarness();
  scheduler = await h.scheduler({ now: () => clock });
});

afterAll(async () => {
  await h.close();
});

describe('a second file defining a dag_id that another file holds', () => {
  it('gets the import error, while the holding file keeps the DAG and its edits apply', async () => {
    const doc = (description: string) => ({
      dag_id: 'dup',
      description,
      tasks: [{ task_id: 't', operator: 'empty' as const }],
    });
    await h.writeDag(doc('owner v1'), 'z_dup.json');
    await scheduler.processDagFiles();
    await h.writeDag(doc('newcomer'), 'a_dup.json');
    await scheduler.processDagFiles();
    await h.writeDag(doc('owner v2'), 'z_dup.json');
    await scheduler.processDagFiles();

    const errors = await h.db.prisma.importError.findMany();
    expect(errors.map((error) => [error.filename, error.stackTrace])).toEqual([
      ['a_dup.json', 'a_dup.json: dag_id "dup" is already defined in z_dup.json'],
    ]);
    const dag = await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'dup' } });
    expect([dag.fileloc, dag.description]).toEqual([join(h.dagsFolder, 'z_dup.json'), 'owner v2']);
  });
});

describe("a catchup DAG's schedule change", () => {
  it("continues from the new schedule's last time at or before the last run's end, as Airflow, not from start_date", async () => {
    const doc = (schedule: string) => ({
      dag_id: 'resched',
      schedule,
      start_date: '2026-03-01T00:00:00Z',
      catchup: true,
      tasks: [{ task_id: 't', operator: 'empty' as const }],
    });
    await h.writeDag(doc('*/10 * * * *'));
    await scheduler.processDagFiles();
    for (let i = 0; i < 8; i++) await scheduler.runLoopOnce();
    const before = await h.db.prisma.dagRun.count({ where: { dagId: 'resched' } });
    expect(before).toBe(6); // 00:00 .. 00:50, each interval ended by 01:05

    // Airflow's next_dagrun_info aligns the last run's end (01:00) back onto the new schedule:
    // the next interval is 00:55-01:05, overlapping the last run's, never leaving 01:00-01:05
    // uncovered; it has ended at 01:05, so it runs now.
    await h.writeDag(doc('5-59/10 * * * *'));
    await scheduler.processDagFiles();
    for (let i = 0; i < 4; i++) await scheduler.runLoopOnce();
    const runs = await h.db.prisma.dagRun.findMany({
      where: { dagId: 'resched' },
      orderBy: { logicalDate: 'asc' },
    });
    expect(runs).toHaveLength(7);
    expect(
      [runs[6]!.dataIntervalStart, runs[6]!.dataIntervalEnd].map((date) => date?.toISOString()),
    ).toEqual(['2026-03-01T00:55:00.000Z', '2026-03-01T01:05:00.000Z']);
    const dag = await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'resched' } });
    expect(dag.nextDagrunLogicalDate?.toISOString()).toBe('2026-03-01T01:05:00.000Z');
  });
});

describe("a DAG's timezone", () => {
  it('makes its cron schedule run at local time, before and after a DST change', async () => {
    const local = await createHarness();
    try {
      await local.writeDag({
        dag_id: 'new_york',
        schedule: '0 9 * * *',
        start_date: '2026-03-06T09:00:00-05:00',
        timezone: 'America/New_York',
        catchup: true,
        tasks: [{ task_id: 't', operator: 'empty' }],
      });
      const nyc = await local.scheduler({ now: () => new Date('2026-03-10T15:00:00Z') });
      await nyc.processDagFiles();
      const dag = await local.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'new_york' } });
      expect(dag.timezone).toBe('America/New_York');
      for (let i = 0; i < 6; i++) await nyc.runLoopOnce();
      const runs = await local.db.prisma.dagRun.findMany({
        where: { dagId: 'new_york' },
        orderBy: { logicalDate: 'asc' },
      });
      expect(runs.map((run) => run.logicalDate?.toISOString())).toEqual([
        '2026-03-06T14:00:00.000Z',
        '2026-03-07T14:00:00.000Z',
        '2026-03-08T13:00:00.000Z',
        '2026-03-09T13:00:00.000Z',
      ]);
    } finally {
      await local.close();
    }
  });

  it('runs a 02:30 cron at 03:30 on the day 02:30 does not exist, as Airflow (Europe/Berlin)', async () => {
    const local = await createHarness();
    try {
      await local.writeDag({
        dag_id: 'berlin',
        schedule: '30 2 * * *',
        start_date: '2026-03-27T00:00:00+01:00',
        timezone: 'Europe/Berlin',
        catchup: true,
        tasks: [{ task_id: 't', operator: 'empty' }],
      });
      const berlin = await local.scheduler({ now: () => new Date('2026-03-31T00:00:00Z') });
      await berlin.processDagFiles();
      for (let i = 0; i < 5; i++) await berlin.runLoopOnce();
      const runs = await local.db.prisma.dagRun.findMany({
        where: { dagId: 'berlin' },
        orderBy: { logicalDate: 'asc' },
      });
      // 02:30 CET is 01:30Z; on 29 March 02:30 is skipped and Airflow runs at 03:30 CEST (01:30Z);
      // from then on 02:30 CEST is 00:30Z. A run is due at its interval's end (run_after).
      expect(
        runs.map((run) => [
          run.runId,
          run.dataIntervalStart?.toISOString(),
          run.dataIntervalEnd?.toISOString(),
          run.runAfter.toISOString(),
        ]),
      ).toEqual([
        [
          'scheduled__2026-03-27T01:30:00+00:00',
          '2026-03-27T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
          '2026-03-28T01:30:00.000Z',
        ],
        [
          'scheduled__2026-03-28T01:30:00+00:00',
          '2026-03-28T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
          '2026-03-29T01:30:00.000Z',
        ],
        [
          'scheduled__2026-03-29T01:30:00+00:00',
          '2026-03-29T01:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
          '2026-03-30T00:30:00.000Z',
        ],
      ]);
    } finally {
      await local.close();
    }
  });
});

describe('a scheduled DAG whose file breaks', () => {
  it('gets no scheduled run while its file has an import error, as Airflow, and resumes once fixed', async () => {
    const local = await createHarness();
    let clock = new Date('2026-03-01T10:30:00Z');
    try {
      const doc = {
        dag_id: 'breaks',
        schedule: '@hourly',
        start_date: '2026-03-01T00:00:00Z',
        tasks: [{ task_id: 't', operator: 'empty' as const }],
      };
      await local.writeDag(doc);
      const breaking = await local.scheduler({ now: () => clock });
      await breaking.processDagFiles();
      await breaking.runLoopOnce();
      const runIds = async () =>
        (
          await local.db.prisma.dagRun.findMany({
            where: { dagId: 'breaks' },
            orderBy: { logicalDate: 'asc' },
          })
        ).map((run) => run.runId);
      expect(await runIds()).toEqual(['scheduled__2026-03-01T09:00:00+00:00']);

      await local.writeRaw('breaks.json', '{"dag_id": "breaks", "tasks": [');
      await breaking.processDagFiles();
      clock = new Date('2026-03-01T12:30:00Z');
      for (let i = 0; i < 3; i++) await breaking.runLoopOnce();
      expect(await runIds()).toEqual(['scheduled__2026-03-01T09:00:00+00:00']);

      // Fixed: without catchup, the latest complete interval (11:00-12:00) runs.
      await local.writeDag(doc);
      await breaking.processDagFiles();
      await breaking.runLoopOnce();
      expect(await runIds()).toEqual([
        'scheduled__2026-03-01T09:00:00+00:00',
        'scheduled__2026-03-01T11:00:00+00:00',
      ]);
    } finally {
      await local.close();
    }
  });
});
