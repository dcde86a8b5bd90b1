import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { lockRunsToExamine, repointRunsToVersion } from './examine.ts';

let db: TestDatabase;
/** A second client on the same database that records every SQL statement it sends. */
let logged: PrismaClient;
const statements: string[] = [];
let v1: string;
let v2: string;

const TASKS_V1 = Array.from({ length: 50 }, (_, i) => `t${i}`);

beforeAll(async () => {
  db = await createTestDatabase();
  const client = new PrismaClient({
    adapter: new PrismaPg({ connectionString: db.url }),
    log: [{ emit: 'event', level: 'query' }],
  });
  client.$on('query', (event) => statements.push(event.query));
  logged = client;
  const { prisma } = db;
  await prisma.dag.create({ data: { dagId: 'd' } });
  v1 = (
    await prisma.dagVersion.create({
      data: {
        dagId: 'd',
        versionNumber: 1,
        serializedDag: { create: { dagId: 'd', data: {}, dagHash: 'h1' } },
      },
    })
  ).id;
  v2 = (
    await prisma.dagVersion.create({
      data: {
        dagId: 'd',
        versionNumber: 2,
        serializedDag: { create: { dagId: 'd', data: {}, dagHash: 'h2' } },
      },
    })
  ).id;
  for (let run = 0; run < 3; run++) {
    await prisma.dagRun.create({
      data: {
        dagId: 'd',
        runId: `r${run}`,
        state: 'running',
        runType: 'manual',
        createdDagVersionId: v1,
        currentDagVersionId: v1,
      },
    });
    await prisma.taskInstance.createMany({
      data: TASKS_V1.map((taskId, i) => ({
        dagId: 'd',
        runId: `r${run}`,
        taskId,
        dagVersionId: v1,
        state: i < 10 ? 'success' : i < 12 ? 'running' : i < 14 ? 'up_for_retry' : null,
      })),
    });
  }
});

afterAll(async () => {
  await logged.$disconnect();
  await db.drop();
});

describe('the examine step', () => {
  it('chooses runs without any query on task_instance', async () => {
    statements.length = 0;
    const runs = await logged.$transaction((tx) => lockRunsToExamine(tx, 20));
    expect(runs.map((run) => run.runId)).toEqual(['r0', 'r1', 'r2']);
    expect(runs[0]).toMatchObject({ versionId: v1, latestVersionId: v2 });
    expect(statements.filter((sql) => /task_instance/i.test(sql))).toEqual([]);
  });

  it('follows a DAG change of several runs with one UPDATE and one INSERT on task_instance and no read of it', async () => {
    // v2: t0..t44 kept, t45..t49 removed, n0..n2 new
    const tasks = [...TASKS_V1.slice(0, 45), 'n0', 'n1', 'n2'].map((taskId) => ({
      taskId,
      operator: 'empty',
      retries: 0,
    }));
    statements.length = 0;
    const result = await logged.$transaction(async (tx) => {
      const runs = await lockRunsToExamine(tx, 20);
      return repointRunsToVersion(tx, {
        runs: runs.map((run) => ({ runPk: run.id, dagId: 'd', runId: run.runId })),
        versionId: v2,
        tasks,
      });
    });
    const onTaskInstances = statements.filter((sql) => /task_instance/i.test(sql));
    expect(onTaskInstances.map((sql) => sql.trim().split(/\s+/)[0]!.toUpperCase())).toEqual([
      'UPDATE',
      'INSERT',
    ]);
    // Per run: 40 unfinished instances (state null included) re-pointed or marked removed; 3 new.
    // Three runs, one UPDATE.
    expect(result).toEqual({ updated: 120, inserted: 9 });
  });

  it('leaves finished instances on their version, moves unfinished ones and marks vanished ones removed', async () => {
    const rows = await db.prisma.taskInstance.findMany({ where: { dagId: 'd', runId: 'r0' } });
    const byTask = new Map(rows.map((row) => [row.taskId, row]));
    expect(byTask.get('t0')).toMatchObject({ state: 'success', dagVersionId: v1 });
    expect(byTask.get('t11')).toMatchObject({ state: 'running', dagVersionId: v2 });
    expect(byTask.get('t13')).toMatchObject({ state: 'up_for_retry', dagVersionId: v2 });
    expect(byTask.get('t20')).toMatchObject({ state: null, dagVersionId: v2 });
    expect(byTask.get('t47')).toMatchObject({ state: 'removed' });
    expect(byTask.get('n1')).toMatchObject({ state: null, dagVersionId: v2 });
    const run = await db.prisma.dagRun.findFirstOrThrow({ where: { dagId: 'd', runId: 'r0' } });
    expect(run.currentDagVersionId).toBe(v2);
  });
});
