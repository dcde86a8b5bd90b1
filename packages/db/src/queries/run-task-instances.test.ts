import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../client.ts';
import { defaultDatabaseSettings } from '../settings.ts';
import { createTestDatabase, type TestDatabase } from '../testing/index.ts';
import { createApiQueries, type ApiQueries } from './api/index.ts';
import type { VersionSource } from './run-task-instances.ts';
import { createDueScheduledRuns, startQueuedRuns } from './scheduler/runs.ts';
import type { TaskSpec } from './scheduler/types.ts';

let db: TestDatabase;
let queries: ApiQueries;
let versionId: string;

const TASKS: TaskSpec[] = [
  { taskId: 'a', operator: 'bash', retries: 2 },
  { taskId: 'b', operator: 'empty', retries: 0 },
];

/** A DAG cache holding `held` (hash and tasks) for the version; counts loads and drops. */
function cacheHolding(held: { dagHash: string; tasks: TaskSpec[] }, reloaded = held) {
  const source = {
    loads: 0,
    invalidated: 0,
    current: held,
    get: async () => {
      source.loads++;
      return { dagHash: source.current.dagHash, dag: { tasks: byId(source.current.tasks) } };
    },
    invalidate: () => {
      source.invalidated++;
      source.current = reloaded;
    },
  };
  return source satisfies VersionSource;
}

const byId = (tasks: TaskSpec[]) => new Map(tasks.map((task) => [task.taskId, task]));
const stored = { dagHash: 'h1', tasks: TASKS };

beforeAll(async () => {
  db = await createTestDatabase();
  queries = createApiQueries(db.prisma);
  await db.prisma.dag.create({
    data: {
      dagId: 'd',
      timetableSummary: '@daily',
      nextDagrunLogicalDate: new Date('2026-01-01T00:00:00Z'),
      nextDagrunDataIntervalStart: new Date('2026-01-01T00:00:00Z'),
      nextDagrunDataIntervalEnd: new Date('2026-01-02T00:00:00Z'),
      nextDagrunCreateAfter: new Date('2026-01-02T00:00:00Z'),
    },
  });
  versionId = (
    await db.prisma.dagVersion.create({
      data: {
        dagId: 'd',
        versionNumber: 1,
        serializedDag: { create: { dagId: 'd', data: {}, dagHash: 'h1' } },
      },
    })
  ).id;
});

afterAll(() => db.drop());

const instancesOf = async (runId: string) =>
  (
    await db.prisma.taskInstance.findMany({
      where: { dagId: 'd', runId },
      orderBy: { taskId: 'asc' },
    })
  ).map((ti) => [ti.taskId, ti.state, ti.tryNumber, ti.maxTries, ti.dagVersionId]);

const trigger = (runId: string, versions: VersionSource, using: ApiQueries = queries) =>
  using.createDagRun(
    {
      dagId: 'd',
      runId,
      logicalDate: null,
      runAfter: new Date(),
      dataIntervalStart: null,
      dataIntervalEnd: null,
      conf: {},
      note: null,
      createdDagVersionId: versionId,
      queuedAt: new Date(),
      triggeringUserName: null,
    },
    versions,
  );

describe('the task instances a run is created with', () => {
  it('a scheduled run gets one per task of its version, state null, in its creation', async () => {
    const created = await createDueScheduledRuns(db.prisma, {
      now: new Date('2026-01-02T00:00:01Z'),
      limit: 10,
      intervalToRun: (dag) => dag,
      nextAfter: () => null,
      versions: cacheHolding(stored),
    });
    expect(created.map((run) => run.runId)).toEqual(['scheduled__2026-01-01T00:00:00+00:00']);
    expect(await instancesOf(created[0]!.runId)).toEqual([
      ['a', null, 0, 2, versionId],
      ['b', null, 0, 0, versionId],
    ]);
  });

  it("have time-ordered UUIDv7 ids, as Airflow's, in the order of the version's tasks", async () => {
    const unsorted: TaskSpec[] = ['z', 'a', 'm', 'b'].map((taskId) => ({
      taskId,
      operator: 'empty',
      retries: 0,
    }));
    await trigger('first', cacheHolding({ dagHash: 'h1', tasks: unsorted }));
    await trigger('second', cacheHolding({ dagHash: 'h1', tasks: unsorted }));
    const byId = await db.prisma.taskInstance.findMany({
      where: { dagId: 'd', runId: { in: ['first', 'second'] } },
      orderBy: { id: 'asc' },
    });
    // The version nibble (13th hex digit) is 7; the 48 leading bits are the creation millisecond.
    expect(byId.map((ti) => ti.id[14])).toEqual(Array(8).fill('7'));
    expect(byId.map((ti) => `${ti.runId}.${ti.taskId}`)).toEqual([
      'first.z',
      'first.a',
      'first.m',
      'first.b',
      'second.z',
      'second.a',
      'second.m',
      'second.b',
    ]);
    await db.prisma.dagRun.deleteMany({
      where: { dagId: 'd', runId: { in: ['first', 'second'] } },
    });
  });

  it('come from the stored definition when the cache held one updated in place since', async () => {
    const cache = cacheHolding({ dagHash: 'h0', tasks: [TASKS[0]!] }, stored);
    await trigger('stale_cache', cache);
    expect(cache.invalidated).toBe(1);
    expect((await instancesOf('stale_cache')).map(([taskId]) => taskId)).toEqual(['a', 'b']);
  });

  it('are left to the run start when the stored definition cannot be read', async () => {
    const stale = { dagHash: 'h0', tasks: TASKS };
    await trigger('unreadable', cacheHolding(stale, stale));
    expect(await instancesOf('unreadable')).toEqual([]);
  });

  it('starting the run keeps them as they are (a patched state included) and adds what is missing', async () => {
    await trigger('patched', cacheHolding(stored));
    await db.prisma.taskInstance.updateMany({
      where: { dagId: 'd', runId: 'patched', taskId: 'a' },
      data: { state: 'success' },
    });
    const started = await startQueuedRuns(db.prisma, {
      dagId: 'd',
      tasksByVersion: new Map([[versionId, stored]]),
    });
    expect(started.started.map((run) => run.runId).sort()).toEqual([
      'patched',
      'scheduled__2026-01-01T00:00:00+00:00',
      'stale_cache',
      'unreadable',
    ]);
    expect(await instancesOf('patched')).toEqual([
      ['a', 'success', 0, 2, versionId],
      ['b', null, 0, 0, versionId],
    ]);
    expect(await instancesOf('unreadable')).toEqual([
      ['a', null, 0, 2, versionId],
      ['b', null, 0, 0, versionId],
    ]);
    expect(await db.prisma.taskInstance.count({ where: { dagId: 'd' } })).toBe(8);
  });

  it('a trigger whose cached version was updated in place never waits on the pool for its load (one connection)', async () => {
    // The API's DagBag loads through the same pool as the trigger's transaction. Loading inside the
    // transaction would wait for a second connection that a one-connection pool never frees, until
    // the transaction times out.
    const single = createPrismaClient({
      url: db.url,
      settings: { ...defaultDatabaseSettings(), DATABASE_POOL_MAX: 1 },
      applicationName: 'run-task-instances-test',
    });
    try {
      let cached = { dagHash: 'h0', tasks: [TASKS[0]!] };
      const loadingCache: VersionSource = {
        get: async () => {
          const rows = await single.$queryRaw<{ dagHash: string }[]>`
            SELECT dag_hash AS "dagHash" FROM serialized_dag WHERE dag_version_id = ${versionId}::uuid`;
          return {
            dagHash: rows[0]?.dagHash ?? cached.dagHash,
            dag: { tasks: byId(cached.tasks) },
          };
        },
        invalidate: () => {
          cached = stored;
        },
      };
      // The first read answers the old hash as a cache holding it would.
      let first = true;
      const source: VersionSource = {
        get: async (id) => {
          if (!first) return loadingCache.get(id);
          first = false;
          return { dagHash: 'h0', dag: { tasks: byId([TASKS[0]!]) } };
        },
        invalidate: (id) => loadingCache.invalidate(id),
      };
      await trigger('one_connection', source, createApiQueries(single));
      expect((await instancesOf('one_connection')).map(([taskId]) => taskId)).toEqual(['a', 'b']);
    } finally {
      await single.$disconnect();
    }
  });
});
