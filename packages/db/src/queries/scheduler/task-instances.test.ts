import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from '../../client.ts';
import { defaultDatabaseSettings } from '../../settings.ts';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { createTaskInstanceTryQueries } from '../api/task-instance-tries.ts';
import { registerSchedulerJob } from './jobs.ts';
import {
  claimScheduledTaskInstances,
  failOrRetryTimedOut,
  findTimedOutTaskInstances,
  finishTaskInstanceTry,
  handBackTaskInstances,
  markTaskInstanceRunning,
  releaseTaskInstanceTry,
} from './task-instances.ts';

let db: TestDatabase;
let other: PrismaClient;
let jobA: number;
let jobB: number;

beforeAll(async () => {
  db = await createTestDatabase();
  other = createPrismaClient({
    url: db.url,
    settings: defaultDatabaseSettings(),
    applicationName: 'test:other-scheduler',
  });
  // Room for every instance these tests make: max_active_tasks has tests of its own below.
  await db.prisma.dag.create({ data: { dagId: 'd', maxActiveTasks: 1000 } });
  jobA = await registerSchedulerJob(db.prisma, { hostname: 'a', pid: 1 });
  jobB = await registerSchedulerJob(db.prisma, { hostname: 'b', pid: 2 });
});

beforeEach(async () => {
  await db.prisma.dagRun.deleteMany();
  await db.prisma.dagRun.create({
    data: { dagId: 'd', runId: 'r', state: 'running', runType: 'manual' },
  });
});

afterAll(async () => {
  await other.$disconnect();
  await db.drop();
});

describe('task instance claims', () => {
  it('are disjoint when two schedulers claim at the same time', async () => {
    await db.prisma.taskInstance.createMany({
      data: Array.from({ length: 50 }, (_, i) => ({
        dagId: 'd',
        runId: 'r',
        taskId: `t${i}`,
        state: 'scheduled',
      })),
    });
    const [a, b] = await Promise.all([
      claimScheduledTaskInstances(db.prisma, {
        jobId: jobA,
        limit: 30,
        hostname: 'a',
        heartbeatTimeoutSeconds: 60,
      }),
      claimScheduledTaskInstances(other, {
        jobId: jobB,
        limit: 30,
        hostname: 'b',
        heartbeatTimeoutSeconds: 60,
      }),
    ]);
    const ids = [...a, ...b].map((ti) => ti.id);
    expect(ids.length).toBe(50);
    expect(new Set(ids).size).toBe(50);
    expect(new Set([...a, ...b].map((ti) => ti.tryNumber))).toEqual(new Set([1]));
  });

  it('skip instances of runs that are not running', async () => {
    await db.prisma.taskInstance.create({
      data: { dagId: 'd', runId: 'r', taskId: 't', state: 'scheduled' },
    });
    await db.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'd', runId: 'r' } },
      data: { state: 'failed' },
    });
    expect(
      await claimScheduledTaskInstances(db.prisma, {
        jobId: jobA,
        limit: 10,
        hostname: 'a',
        heartbeatTimeoutSeconds: 60,
      }),
    ).toEqual([]);
  });
});

describe("a run's max_active_tasks", () => {
  const claim = (client: PrismaClient, jobId: number, limit = 20) =>
    claimScheduledTaskInstances(client, {
      jobId,
      limit,
      hostname: 'a',
      heartbeatTimeoutSeconds: 60,
    });
  async function runWith(dagId: string, runId: string, states: string[]): Promise<void> {
    await db.prisma.dagRun.create({ data: { dagId, runId, state: 'running', runType: 'manual' } });
    await db.prisma.taskInstance.createMany({
      data: states.map((state, i) => ({ dagId, runId, taskId: `t${i}`, state })),
    });
  }

  it('leaves each run no more instances queued or running than its DAG allows', async () => {
    await db.prisma.dag.create({ data: { dagId: 'two-at-once', maxActiveTasks: 2 } });
    await runWith('two-at-once', 'busy', ['running', ...Array<string>(5).fill('scheduled')]);
    await runWith('two-at-once', 'idle', Array<string>(5).fill('scheduled'));

    const claimed = await claim(db.prisma, jobA);

    const perRun = (runId: string) => claimed.filter((ti) => ti.runId === runId).length;
    // Per run, as Airflow 3 counts it: the idle run is not held back by the busy one.
    expect([perRun('busy'), perRun('idle')]).toEqual([1, 2]);
    expect(await claim(db.prisma, jobA)).toEqual([]);
    await db.prisma.taskInstance.updateMany({
      where: { dagId: 'two-at-once', runId: 'idle', state: 'queued' },
      data: { state: 'success' },
    });
    expect((await claim(db.prisma, jobA)).map((ti) => ti.runId)).toEqual(['idle', 'idle']);
    await db.prisma.dag.delete({ where: { dagId: 'two-at-once' } });
  });

  it('is filled once between two schedulers claiming at the same time', async () => {
    await db.prisma.dag.create({ data: { dagId: 'three-at-once', maxActiveTasks: 3 } });
    await runWith('three-at-once', 'r', Array<string>(10).fill('scheduled'));

    const [a, b] = await Promise.all([claim(db.prisma, jobA), claim(other, jobB)]);

    expect(a.length + b.length).toBe(3);
    await db.prisma.dag.delete({ where: { dagId: 'three-at-once' } });
  });
});

describe('finishing a try', () => {
  it('writes nothing when the instance was taken away meanwhile', async () => {
    await db.prisma.taskInstance.create({
      data: { dagId: 'd', runId: 'r', taskId: 't', state: 'scheduled' },
    });
    const [ti] = await claimScheduledTaskInstances(db.prisma, {
      jobId: jobA,
      limit: 1,
      hostname: 'a',
      heartbeatTimeoutSeconds: 60,
    });
    await db.prisma.taskInstance.update({ where: { id: ti!.id }, data: { state: 'failed' } });
    expect(
      await finishTaskInstanceTry(db.prisma, {
        id: ti!.id,
        jobId: jobA,
        tryNumber: 1,
        outcome: 'success',
        retryDelaySeconds: 0,
      }),
    ).toBeNull();
    expect((await db.prisma.taskInstance.findUniqueOrThrow({ where: { id: ti!.id } })).state).toBe(
      'failed',
    );
  });
});

describe('handing back a try (a scheduler shutting down)', () => {
  it('keeps that try among the tries once the next one runs', async () => {
    // Before, try 1 vanished: not archived when handed back, and the claim numbered the next 2.
    await db.prisma.taskInstance.create({
      data: { dagId: 'd', runId: 'r', taskId: 't', state: 'scheduled' },
    });
    const claim = { limit: 1, heartbeatTimeoutSeconds: 60 };
    const [first] = await claimScheduledTaskInstances(db.prisma, {
      ...claim,
      jobId: jobA,
      hostname: 'a',
    });
    await markTaskInstanceRunning(db.prisma, { id: first!.id, jobId: jobA, pid: 42 });
    expect(
      await handBackTaskInstances(db.prisma, { jobId: jobA, ids: [first!.id], reason: 'test' }),
    ).toEqual([first!.id]);
    await releaseTaskInstanceTry(db.prisma, { id: first!.id, jobId: jobA, tryNumber: 1 });
    const handedBack = await db.prisma.taskInstance.findUniqueOrThrow({ where: { id: first!.id } });
    expect([handedBack.state, handedBack.tryNumber, handedBack.maxTries]).toEqual([
      'scheduled',
      1,
      1,
    ]);
    const [second] = await claimScheduledTaskInstances(other, {
      ...claim,
      jobId: jobB,
      hostname: 'b',
    });
    expect(second!.tryNumber).toBe(2);
    const tries = await createTaskInstanceTryQueries(db.prisma).listTaskInstanceTries({
      dagId: 'd',
      runId: 'r',
      taskId: 't',
      mapIndex: -1,
    });
    expect(tries.map((ti) => [ti.tryNumber, ti.state])).toEqual([
      [1, 'failed'],
      [2, 'queued'],
    ]);
  });

  it('records the try handed back in the event log, with the reason', async () => {
    await db.prisma.taskInstance.create({
      data: { dagId: 'd', runId: 'r', taskId: 'logged', state: 'scheduled' },
    });
    const [ti] = await claimScheduledTaskInstances(db.prisma, {
      limit: 1,
      heartbeatTimeoutSeconds: 60,
      jobId: jobA,
      hostname: 'a',
    });
    await handBackTaskInstances(db.prisma, { jobId: jobA, ids: [ti!.id], reason: 'shutdown' });
    const events = await db.prisma.eventLog.findMany({
      where: { event: 'handed back', taskId: 'logged' },
    });
    expect(events.map((e) => [e.owner, e.runId, e.tryNumber, JSON.parse(e.extra!).reason])).toEqual(
      [['scheduler', 'r', 1, 'shutdown']],
    );
  });
});

describe('heartbeat timeouts', () => {
  async function runningSince(
    taskId: string,
    secondsAgo: number,
    maxTries: number,
  ): Promise<string> {
    const ti = await db.prisma.taskInstance.create({
      data: {
        dagId: 'd',
        runId: 'r',
        taskId,
        state: 'running',
        tryNumber: 1,
        maxTries,
        queuedByJobId: jobA,
        lastHeartbeatAt: new Date(Date.now() - secondsAgo * 1000),
      },
    });
    return ti.id;
  }

  it('retry a silent instance with tries left, after its retry delay, and fail one without', async () => {
    const retried = await runningSince('retried', 120, 1);
    const failed = await runningSince('failed', 120, 0);
    const fresh = await runningSince('fresh', 1, 1);
    const found = await findTimedOutTaskInstances(db.prisma, { timeoutSeconds: 60, limit: 10 });
    expect(found.map((ti) => ti.taskId).sort()).toEqual(['failed', 'retried']);
    const changed = await failOrRetryTimedOut(db.prisma, {
      timeoutSeconds: 60,
      items: found.map((ti) => ({ id: ti.id, tryNumber: ti.tryNumber, retryDelaySeconds: 30 })),
    });
    expect(Object.fromEntries(changed.map((ti) => [ti.id, ti.state]))).toEqual({
      [retried]: 'up_for_retry',
      [failed]: 'failed',
    });
    const row = await db.prisma.taskInstance.findUniqueOrThrow({ where: { id: retried } });
    expect(row.nextRetryAt!.getTime() - row.endDate!.getTime()).toBe(30_000);
    expect((await db.prisma.taskInstance.findUniqueOrThrow({ where: { id: fresh } })).state).toBe(
      'running',
    );
  });

  it('leave an instance alone that heartbeated between finding and failing it', async () => {
    const id = await runningSince('late', 120, 1);
    const found = await findTimedOutTaskInstances(db.prisma, { timeoutSeconds: 60, limit: 10 });
    await db.prisma.taskInstance.update({ where: { id }, data: { lastHeartbeatAt: new Date() } });
    const changed = await failOrRetryTimedOut(db.prisma, {
      timeoutSeconds: 60,
      items: found.map((ti) => ({ id: ti.id, tryNumber: ti.tryNumber, retryDelaySeconds: 0 })),
    });
    expect(changed).toEqual([]);
  });
});
