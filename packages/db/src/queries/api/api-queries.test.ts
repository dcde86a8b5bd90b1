import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { createApiQueries, DuplicateDagRunError, type ApiQueries } from './index.ts';

let db: TestDatabase;
let queries: ApiQueries;
let versionId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  queries = createApiQueries(db.prisma);
  for (const [dagId, tags, isStale] of [
    ['sales_daily', ['finance', 'daily'], false],
    ['sales_hourly', ['finance'], false],
    ['marketing', ['daily'], false],
    ['old_one', [], true],
  ] as const) {
    await db.prisma.dag.create({
      data: { dagId, tags: [...tags], isStale, fileloc: `/dags/${dagId}.json` },
    });
  }
  versionId = (
    await db.prisma.dagVersion.create({
      data: {
        dagId: 'sales_daily',
        versionNumber: 1,
        serializedDag: { create: { dagId: 'sales_daily', data: {}, dagHash: 'h' } },
      },
    })
  ).id;
  await db.prisma.importError.create({
    data: { filename: '/dags/marketing.json', stackTrace: 'bad' },
  });
});

afterAll(() => db.drop());

const page = { limit: 50, offset: 0 };
/** The stored version (hash `h`) as a DAG cache would hold it: no tasks. */
const noTasks = { get: async () => ({ dagHash: 'h', dag: { tasks: new Map() } }), invalidate() {} };

describe('API queries: DAGs', () => {
  it('leave stale DAGs out unless asked, and count the matches', async () => {
    expect((await queries.listDags({ ...page, excludeStale: true, orderBy: [] })).total).toBe(3);
    expect((await queries.listDags({ ...page, excludeStale: false, orderBy: [] })).total).toBe(4);
  });

  it('match dag_id_pattern as a case-insensitive SQL LIKE', async () => {
    const result = await queries.listDags({
      ...page,
      excludeStale: true,
      dagIdPattern: 'SALES%',
      orderBy: [{ column: 'dag_id', descending: true }],
    });
    expect(result.rows.map((row) => row.dagId)).toEqual(['sales_hourly', 'sales_daily']);
  });

  it('match tags in any or all mode', async () => {
    const any = await queries.listDags({
      ...page,
      excludeStale: true,
      tags: ['finance', 'daily'],
      tagsMatchMode: 'any',
      orderBy: [],
    });
    const all = await queries.listDags({
      ...page,
      excludeStale: true,
      tags: ['finance', 'daily'],
      tagsMatchMode: 'all',
      orderBy: [],
    });
    expect(any.total).toBe(3);
    expect(all.rows.map((row) => row.dagId)).toEqual(['sales_daily']);
  });

  it('report the total even when the offset is past the last row', async () => {
    const result = await queries.listDags({
      limit: 10,
      offset: 100,
      excludeStale: true,
      orderBy: [],
    });
    expect(result).toEqual({ rows: [], total: 3 });
  });

  it('flag a DAG whose file has an import error', async () => {
    expect((await queries.getDag('marketing'))?.hasImportErrors).toBe(true);
    expect((await queries.getDag('sales_daily'))?.hasImportErrors).toBe(false);
  });
});

describe('API queries: runs', () => {
  const newRun = (runId: string) => ({
    dagId: 'sales_daily',
    runId,
    logicalDate: null,
    runAfter: new Date('2026-01-01T00:00:00Z'),
    dataIntervalStart: null,
    dataIntervalEnd: null,
    conf: { a: 1 },
    note: null,
    createdDagVersionId: versionId,
    queuedAt: new Date(),
    triggeringUserName: 'ops',
  });

  it('create a queued manual run that lists its version', async () => {
    const run = await queries.createDagRun(newRun('one'), noTasks);
    expect(run).toMatchObject({
      state: 'queued',
      runType: 'manual',
      triggeredBy: 'rest_api',
      conf: { a: 1 },
    });
    expect(run.dagVersions.map((version) => version.id)).toEqual([versionId]);
  });

  it('refuse a second run with the same run_id', async () => {
    await expect(queries.createDagRun(newRun('one'), noTasks)).rejects.toBeInstanceOf(
      DuplicateDagRunError,
    );
  });

  it('list every version a run touched: created with, moved to, and used by its task instances, oldest first', async () => {
    const v2 = await db.prisma.dagVersion.create({
      data: { dagId: 'sales_daily', versionNumber: 2 },
    });
    const v3 = await db.prisma.dagVersion.create({
      data: { dagId: 'sales_daily', versionNumber: 3 },
    });
    await queries.createDagRun(newRun('moved'), noTasks);
    await db.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'sales_daily', runId: 'moved' } },
      data: { currentDagVersionId: v3.id },
    });
    await db.prisma.taskInstance.create({
      data: { dagId: 'sales_daily', runId: 'moved', taskId: 't', dagVersionId: v2.id },
    });
    const run = await queries.getDagRun('sales_daily', 'moved');
    expect(run?.dagVersions.map((version) => version.versionNumber)).toEqual([1, 2, 3]);
  });

  it('keep max_tries when the task is unknown to the DAG version while clearing', async () => {
    await db.prisma.taskInstance.create({
      data: {
        dagId: 'sales_daily',
        runId: 'one',
        taskId: 'vanished',
        state: 'failed',
        tryNumber: 3,
        maxTries: 1,
        dagVersionId: versionId,
      },
    });
    await queries.clearDagRun('sales_daily', 'one', {
      onlyFailed: false,
      retriesOf: async () => undefined,
    });
    const ti = await db.prisma.taskInstance.findFirstOrThrow({ where: { taskId: 'vanished' } });
    expect(ti).toMatchObject({ state: null, tryNumber: 3, maxTries: 3 });
  });
});
