import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { queuedRunVersions, startQueuedRuns } from './runs.ts';

let db: TestDatabase;
/** A second client on the same database that records every SQL statement it sends. */
let logged: PrismaClient;
const statements: string[] = [];
let v1: string;

const TASKS = Array.from({ length: 5 }, (_, i) => ({
  taskId: `t${i}`,
  operator: 'empty',
  retries: 0,
}));

beforeAll(async () => {
  db = await createTestDatabase();
  const client = new PrismaClient({
    adapter: new PrismaPg({ connectionString: db.url }),
    log: [{ emit: 'event', level: 'query' }],
  });
  client.$on('query', (event) => statements.push(event.query));
  logged = client;
  await db.prisma.dag.create({ data: { dagId: 'd', maxActiveRuns: 50 } });
  v1 = (
    await db.prisma.dagVersion.create({
      data: {
        dagId: 'd',
        versionNumber: 1,
        serializedDag: { create: { dagId: 'd', data: {}, dagHash: 'h1' } },
      },
    })
  ).id;
  await db.prisma.dagRun.createMany({
    data: Array.from({ length: 30 }, (_, i) => ({
      dagId: 'd',
      runId: `r${i}`,
      state: 'queued',
      runType: 'manual',
      createdDagVersionId: v1,
    })),
  });
});

afterAll(async () => {
  await logged.$disconnect();
  await db.drop();
});

describe('starting queued runs', () => {
  it('starts every run on one version with one UPDATE of dag_run and one INSERT of task instances', async () => {
    statements.length = 0;
    const result = await startQueuedRuns(logged, {
      dagId: 'd',
      tasksByVersion: new Map([[v1, { dagHash: 'h1', tasks: TASKS }]]),
    });
    expect(result.started).toHaveLength(30);
    expect(await db.prisma.dagRun.count({ where: { state: 'running' } })).toBe(30);
    expect(await db.prisma.taskInstance.count({ where: { state: null } })).toBe(150);
    const writes = statements
      .map((sql) => sql.trim().split(/\s+/)[0]!.toUpperCase())
      .filter((verb) => verb === 'UPDATE' || verb === 'INSERT');
    expect(writes).toEqual(['UPDATE', 'INSERT']);
  });
});

describe('a queued run whose run_after is ahead', () => {
  const hour = 3_600_000;
  const versions = new Map<string, string>();
  beforeAll(async () => {
    const runs = {
      later: [
        { runId: 'due', runAfter: new Date(Date.now() - hour) },
        { runId: 'ahead', runAfter: new Date(Date.now() + hour) },
      ],
      tomorrow: [{ runId: 'ahead', runAfter: new Date(Date.now() + 24 * hour) }],
    };
    for (const [dagId, queued] of Object.entries(runs)) {
      await db.prisma.dag.create({ data: { dagId, maxActiveRuns: 5 } });
      const { id } = await db.prisma.dagVersion.create({
        data: {
          dagId,
          versionNumber: 1,
          serializedDag: { create: { dagId, data: {}, dagHash: `h-${dagId}` } },
        },
      });
      versions.set(dagId, id);
      await db.prisma.dagRun.createMany({
        data: queued.map((run) => ({
          ...run,
          dagId,
          state: 'queued',
          runType: 'manual',
          createdDagVersionId: id,
        })),
      });
    }
  });

  it('is not started, while a due run of the same DAG is', async () => {
    const result = await startQueuedRuns(db.prisma, {
      dagId: 'later',
      tasksByVersion: new Map([[versions.get('later')!, { dagHash: 'h-later', tasks: TASKS }]]),
    });
    expect(result.started.map((run) => run.runId)).toEqual(['due']);
    expect(
      (await db.prisma.dagRun.findFirstOrThrow({ where: { dagId: 'later', runId: 'ahead' } }))
        .state,
    ).toBe('queued');
  });

  it('does not put its DAG in line for a start', async () => {
    expect((await queuedRunVersions(db.prisma, 100)).map((dag) => dag.dagId)).not.toContain(
      'tomorrow',
    );
  });
});
