import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLogDir } from '@dagbag/dagbag';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiQueries } from '../queries/api/index.ts';
import { createTestDatabase, type TestDatabase } from '../testing/index.ts';
import { cleanHistory, noCleanCounts, type CleanCounts, type CleanTable } from './clean.ts';

/** Day `n` of the history these tests write (2026-01-01 is day 0). */
const day = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 86_400_000);
const BEFORE = day(5);

let db: TestDatabase;
let logsRoot: string;

beforeEach(async () => {
  db = await createTestDatabase();
  logsRoot = mkdtempSync(join(tmpdir(), 'dagbag-clean-logs-'));
});
afterEach(async () => {
  await db.drop();
  rmSync(logsRoot, { recursive: true, force: true });
});

async function dag(dagId: string): Promise<void> {
  await db.prisma.dag.create({ data: { dagId, fileloc: `/dags/${dagId}.json` } });
}

async function version(dagId: string, versionNumber: number, createdDay: number): Promise<string> {
  const created = await db.prisma.dagVersion.create({
    data: {
      dagId,
      versionNumber,
      createdAt: day(createdDay),
      serializedDag: { create: { dagId, data: {}, dagHash: `h${versionNumber}` } },
      dagCode: {
        create: { dagId, fileloc: `/dags/${dagId}.json`, sourceCode: '{}', sourceCodeHash: 'x' },
      },
    },
  });
  return created.id;
}

interface RunSpec {
  state?: string;
  runType?: 'manual' | 'scheduled';
  /** run_after (and, scheduled, the data interval's end) */
  afterDay: number;
  /** end_date; default afterDay for a finished run, none for an unfinished one */
  endDay?: number | null;
  versionId?: string;
  /** task id -> state */
  tasks?: Record<string, string | null>;
  /** earlier tries per task */
  tries?: number;
  logs?: boolean;
}

async function run(dagId: string, runId: string, spec: RunSpec): Promise<void> {
  const state = spec.state ?? 'success';
  const finished = state === 'success' || state === 'failed';
  const endDay = spec.endDay === undefined ? (finished ? spec.afterDay : null) : spec.endDay;
  const scheduled = spec.runType === 'scheduled';
  await db.prisma.dagRun.create({
    data: {
      dagId,
      runId,
      state,
      runType: spec.runType ?? 'manual',
      runAfter: day(spec.afterDay),
      logicalDate: scheduled ? day(spec.afterDay - 1) : null,
      dataIntervalStart: scheduled ? day(spec.afterDay - 1) : null,
      dataIntervalEnd: scheduled ? day(spec.afterDay) : null,
      startDate: day(spec.afterDay),
      endDate: endDay === null ? null : day(endDay),
      createdDagVersionId: spec.versionId ?? null,
    },
  });
  for (const [taskId, taskState] of Object.entries(spec.tasks ?? { t: 'success' })) {
    const ti = await db.prisma.taskInstance.create({
      data: {
        dagId,
        runId,
        taskId,
        state: taskState,
        tryNumber: (spec.tries ?? 0) + 1,
        dagVersionId: spec.versionId ?? null,
      },
    });
    for (let tryNumber = 1; tryNumber <= (spec.tries ?? 0); tryNumber++)
      await db.prisma.taskInstanceHistory.create({
        data: {
          taskInstanceId: ti.id,
          dagId,
          runId,
          taskId,
          tryNumber,
          maxTries: 3,
          state: 'failed',
          dagVersionId: spec.versionId ?? null,
        },
      });
    if (spec.logs) {
      const dir = join(runLogDir(logsRoot, { dagId, runId }), taskId);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, '1.log'), 'a line\n');
    }
  }
}

const runIds = async (dagId: string) =>
  (await db.prisma.dagRun.findMany({ where: { dagId }, orderBy: { id: 'asc' } })).map(
    (r) => r.runId,
  );

const clean = (options: { tables?: CleanTable[]; dryRun?: boolean; batchSize?: number } = {}) =>
  cleanHistory(db.prisma, { before: BEFORE, logsRoot, ...options });

const none: CleanCounts = noCleanCounts();

describe('cleaning runs', () => {
  it('deletes finished runs that ended before the timestamp, with their task instances, tries and log folders', async () => {
    await dag('etl');
    const twoTasks = { a: 'success', b: 'failed' };
    await run('etl', 'old1', { afterDay: 1, tasks: twoTasks, tries: 1, logs: true });
    await run('etl', 'old2', { afterDay: 2, state: 'failed', tasks: twoTasks, logs: true });
    await run('etl', 'new', { afterDay: 10, tasks: twoTasks, logs: true });

    expect(await clean()).toEqual({
      ...none,
      dag_run: 2,
      task_instance: 4,
      task_instance_history: 2,
      task_log_folders: 2,
    });
    expect(await runIds('etl')).toEqual(['new']);
    expect(await db.prisma.taskInstance.count()).toBe(2);
    expect(await db.prisma.taskInstanceHistory.count()).toBe(0);
    expect(existsSync(runLogDir(logsRoot, { dagId: 'etl', runId: 'old1' }))).toBe(false);
    expect(existsSync(runLogDir(logsRoot, { dagId: 'etl', runId: 'old2' }))).toBe(false);
    expect(existsSync(runLogDir(logsRoot, { dagId: 'etl', runId: 'new' }))).toBe(true);
  });

  it('judges a run by when it ended: an old interval run recently is kept', async () => {
    await dag('etl');
    await run('etl', 'late', { afterDay: 1, endDay: 8 });
    await run('etl', 'new', { afterDay: 10 });
    expect((await clean()).dag_run).toBe(0);
    expect(await runIds('etl')).toEqual(['late', 'new']);
  });

  it('never deletes a queued or running run, however old', async () => {
    await dag('etl');
    await run('etl', 'queued', { afterDay: 1, state: 'queued', tasks: { t: null } });
    await run('etl', 'running', { afterDay: 1.5, state: 'running', tasks: { t: 'running' } });
    await run('etl', 'new', { afterDay: 10 });
    expect((await clean()).dag_run).toBe(0);
    expect(await runIds('etl')).toEqual(['queued', 'running', 'new']);
  });

  it('never deletes a finished run whose task instance is still queued or running', async () => {
    await dag('etl');
    // Marked failed through the API while its task ran on.
    await run('etl', 'marked', { afterDay: 1, state: 'failed', tasks: { t: 'running' } });
    await run('etl', 'waiting', { afterDay: 1.5, state: 'failed', tasks: { t: 'queued' } });
    await run('etl', 'new', { afterDay: 10 });
    expect((await clean()).dag_run).toBe(0);
    expect(await runIds('etl')).toEqual(['marked', 'waiting', 'new']);
  });

  it("keeps each DAG's latest run, so GET /dags shows the same last run state", async () => {
    await dag('quiet');
    await run('quiet', 'a', { afterDay: 1 });
    await run('quiet', 'b', { afterDay: 2, state: 'failed' });
    const queries = createApiQueries(db.prisma);
    const failedDags = async () =>
      (
        await queries.listDags({
          limit: 50,
          offset: 0,
          excludeStale: false,
          lastDagRunState: 'failed',
          orderBy: [],
        })
      ).rows.map((row) => row.dagId);
    expect(await failedDags()).toEqual(['quiet']);

    expect((await clean()).dag_run).toBe(1);
    expect(await runIds('quiet')).toEqual(['b']);
    expect(await failedDags()).toEqual(['quiet']);
  });

  it("keeps each DAG's latest scheduled run, which a changed schedule continues from", async () => {
    await dag('daily');
    await run('daily', 's1', { afterDay: 1, runType: 'scheduled' });
    await run('daily', 's2', { afterDay: 2, runType: 'scheduled' });
    await run('daily', 's3', { afterDay: 3, runType: 'scheduled' });
    // A manual run after them is the latest run; s3 is still the latest scheduled one.
    await run('daily', 'manual', { afterDay: 4 });
    expect((await clean()).dag_run).toBe(2);
    expect(await runIds('daily')).toEqual(['s3', 'manual']);
    const last = await db.prisma.$queryRaw<{ end: Date }[]>`
      SELECT max(data_interval_end) AS "end" FROM dag_run WHERE dag_id = 'daily' AND run_type = 'scheduled'`;
    expect(last[0]!.end).toEqual(day(3));
  });

  it('deletes in batches of the batch size, one statement each', async () => {
    await dag('etl');
    for (let i = 0; i < 25; i++) await run('etl', `r${i}`, { afterDay: 1 + i / 100 });
    await run('etl', 'new', { afterDay: 10 });
    const batches: number[] = [];
    await cleanHistory(db.prisma, {
      before: BEFORE,
      tables: ['dag_run'],
      batchSize: 10,
      onBatch: (table, rows) => {
        batches.push(rows);
      },
    });
    expect(batches).toEqual([10, 10, 5]);
    expect(await runIds('etl')).toEqual(['new']);
  });
});

describe('cleaning DAG versions', () => {
  it("deletes versions nothing remaining refers to, never a DAG's latest nor one superseded after the timestamp", async () => {
    await dag('etl');
    const v1 = await version('etl', 1, 0);
    const v2 = await version('etl', 2, 1);
    const v3 = await version('etl', 3, 2);
    const v4 = await version('etl', 4, 8);
    const v5 = await version('etl', 5, 9);
    await run('etl', 'on_v1', { afterDay: 1, versionId: v1 }); // cleaned: v1 goes with it
    await run('etl', 'on_v2', { afterDay: 9, versionId: v2 }); // kept: v2 stays
    // v3: no run, superseded on day 8 (after the timestamp): it was the latest until then.
    // v4: no run, superseded on day 9; v5: the latest.
    expect((await clean()).dag_version).toBe(1);
    const left = await db.prisma.dagVersion.findMany({ orderBy: { versionNumber: 'asc' } });
    expect(left.map((v) => v.id)).toEqual([v2, v3, v4, v5]);
    expect(await db.prisma.serializedDag.count({ where: { dagVersionId: v1 } })).toBe(0);
    expect(await db.prisma.dagCode.count({ where: { dagVersionId: v1 } })).toBe(0);
  });

  it('keeps a version that a remaining task instance or earlier try ran on', async () => {
    await dag('etl');
    const v1 = await version('etl', 1, 0);
    const v2 = await version('etl', 2, 1);
    await version('etl', 3, 2);
    // A run created on v2 whose earlier try ran on v1 (the run moved to v2 between tries).
    await run('etl', 'moved', { afterDay: 9, versionId: v2, tries: 1 });
    await db.prisma.taskInstanceHistory.updateMany({ data: { dagVersionId: v1 } });
    expect((await clean()).dag_version).toBe(0);
    expect(await db.prisma.dagVersion.count()).toBe(3);
  });
});

describe('cleaning the event log and scheduler jobs', () => {
  it('deletes event-log rows older than the timestamp, and only those', async () => {
    for (const n of [1, 2, 3, 6, 7])
      await db.prisma.eventLog.create({ data: { dttm: day(n), event: `e${n}` } });
    expect((await clean({ tables: ['log'], batchSize: 2 })).log).toBe(3);
    const left = await db.prisma.eventLog.findMany({ orderBy: { dttm: 'asc' } });
    expect(left.map((e) => e.event)).toEqual(['e6', 'e7']);
  });

  it('deletes ended scheduler jobs older than the timestamp, never a running one nor one a running task names', async () => {
    const job = (state: string, heartbeatDay: number) =>
      db.prisma.job.create({
        data: { jobType: 'SchedulerJob', state, latestHeartbeat: day(heartbeatDay) },
      });
    const ended = await job('success', 1);
    const alive = await job('running', 1);
    const holding = await job('failed', 1);
    const recent = await job('success', 8);
    await dag('etl');
    await run('etl', 'r', { afterDay: 9, state: 'running', tasks: { t: 'running' } });
    await db.prisma.taskInstance.updateMany({ data: { queuedByJobId: holding.id } });
    expect((await clean()).job).toBe(1);
    const left = await db.prisma.job.findMany({ orderBy: { id: 'asc' } });
    expect(left.map((j) => j.id)).toEqual([alive.id, holding.id, recent.id]);
    expect(left.map((j) => j.id)).not.toContain(ended.id);
  });
});

describe('a dry run and --tables', () => {
  async function history(): Promise<void> {
    await dag('etl');
    const v1 = await version('etl', 1, 0);
    const v2 = await version('etl', 2, 1);
    await run('etl', 'old', { afterDay: 1, versionId: v1, tries: 2, logs: true });
    await run('etl', 'new', { afterDay: 9, versionId: v2, logs: true });
    await db.prisma.eventLog.create({ data: { dttm: day(1), event: 'old' } });
    await db.prisma.job.create({
      data: { jobType: 'SchedulerJob', state: 'success', latestHeartbeat: day(1) },
    });
  }
  const sizes = async () => ({
    runs: await db.prisma.dagRun.count(),
    tis: await db.prisma.taskInstance.count(),
    tries: await db.prisma.taskInstanceHistory.count(),
    versions: await db.prisma.dagVersion.count(),
    events: await db.prisma.eventLog.count(),
    jobs: await db.prisma.job.count(),
    logs: existsSync(runLogDir(logsRoot, { dagId: 'etl', runId: 'old' })),
  });

  it('counts exactly what the clean then deletes, deleting nothing itself', async () => {
    await history();
    const before = await sizes();
    const planned = await clean({ dryRun: true });
    expect(await sizes()).toEqual(before);
    expect(planned).toEqual({
      dag_run: 1,
      task_instance: 1,
      task_instance_history: 2,
      task_log_folders: 1,
      dag_version: 1,
      log: 1,
      job: 1,
    });
    expect(await clean()).toEqual(planned);
  });

  it('cleans only the tables asked for', async () => {
    await history();
    expect(await clean({ tables: ['log'] })).toEqual({ ...none, log: 1 });
    const left = await sizes();
    expect(left).toMatchObject({ runs: 2, versions: 2, events: 0, jobs: 1, logs: true });
  });
});
