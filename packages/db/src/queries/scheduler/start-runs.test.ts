import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { startQueuedRuns } from './runs.ts';

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
