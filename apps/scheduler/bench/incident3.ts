/**
 * Incident 3: heap allocated by one examine + version-change step over 20 running runs x 100 tasks.
 *  - eager (the Airflow way): load the runs with all their task instances, loop per instance and
 *    update each one that must follow the new version;
 *  - ours: lock the runs from dag_run alone, then one bulk UPDATE + one INSERT per run.
 * Each step moves every run to the other of two versions, so both do the full work every time.
 */
import { Session } from 'node:inspector';
import { buildDag, type DagDocument } from '@dagbag/dagbag';
import { makeDagDocument } from '@dagbag/dagbag/testing';
import { DagBag } from '@dagbag/dagbag';
import {
  analyzeSchedulerTables,
  createDagVersionLoader,
  lockRunsToExamine,
  markRunsExamined,
  repointRunsToVersion,
  UNFINISHED_TASK_STATES,
  type PrismaClient,
  type TaskSpec,
} from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';
import { SchedulingLoop, type LoopSummary } from '../src/loop/scheduling-loop.ts';
import { taskSpecs } from '../src/loop/graph.ts';

const RUNS = 20;
const TASKS = 100;
const UNFINISHED = new Set<string>(UNFINISHED_TASK_STATES);

export interface Incident3Result {
  runs: number;
  tasks: number;
  eagerBytes: number;
  oursBytes: number;
  /** The same number of statements doing nothing: what the client costs per statement. */
  floorBytes: number;
  /** The eager read alone (2,000 task instances as objects), without its per-instance writes. */
  eagerLoadBytes: number;
  eagerLoadMs: number;
  /** Our whole examine step of a loop with no DAG change: lock, trigger rules, finish checks. */
  steadyLoopBytes: number;
  steadyLoopMs: number;
  eagerMs: number;
  oursMs: number;
}

async function createVersion(
  prisma: PrismaClient,
  document: DagDocument,
  versionNumber: number,
  hash: string,
): Promise<string> {
  const version = await prisma.dagVersion.create({
    data: {
      dagId: document.dag_id,
      versionNumber,
      serializedDag: {
        create: { dagId: document.dag_id, data: document, dagHash: hash },
      },
    },
  });
  return version.id;
}

/** The eager step, written as an ORM-style scheduler does it (Airflow's verify_integrity). */
async function eagerStep(
  prisma: PrismaClient,
  target: string,
  tasks: readonly TaskSpec[],
): Promise<void> {
  const taskIds = new Set(tasks.map((task) => task.taskId));
  await prisma.$transaction(
    async (tx) => {
      const runs = await tx.dagRun.findMany({
        where: { state: 'running' },
        orderBy: [{ lastSchedulingDecision: { sort: 'asc', nulls: 'first' } }, { id: 'asc' }],
        take: RUNS,
        include: { taskInstances: true },
      });
      for (const run of runs) {
        if (run.taskInstances.some((ti) => ti.dagVersionId === target)) continue;
        const existing = new Set<string>();
        for (const ti of run.taskInstances) {
          existing.add(ti.taskId);
          if (!taskIds.has(ti.taskId)) {
            await tx.taskInstance.update({ where: { id: ti.id }, data: { state: 'removed' } });
          } else if (ti.state === null || UNFINISHED.has(ti.state)) {
            await tx.taskInstance.update({ where: { id: ti.id }, data: { dagVersionId: target } });
          }
        }
        const missing = tasks.filter((task) => !existing.has(task.taskId));
        if (missing.length > 0) {
          await tx.taskInstance.createMany({
            data: missing.map((task) => ({
              dagId: run.dagId,
              runId: run.runId,
              taskId: task.taskId,
              dagVersionId: target,
              maxTries: task.retries,
            })),
          });
        }
        await tx.dagRun.update({
          where: { id: run.id },
          data: { lastSchedulingDecision: new Date(), currentDagVersionId: target },
        });
      }
    },
    { timeout: 120_000 },
  );
}

/**
 * The floor: as many statements as `oursStep` sends (lock, UPDATE, INSERT, UPDATE, mark), each
 * doing nothing.
 */
async function trivialStep(prisma: PrismaClient): Promise<void> {
  await prisma.$transaction(async (tx) => {
    for (let i = 0; i < 5; i++) await tx.$executeRaw`SELECT 1`;
  });
}

/** Only the eager read of the step above: runs with all their task instances, nothing written. */
async function eagerLoadOnly(prisma: PrismaClient, target: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    const runs = await tx.dagRun.findMany({
      where: { state: 'running' },
      orderBy: [{ lastSchedulingDecision: { sort: 'asc', nulls: 'first' } }, { id: 'asc' }],
      take: RUNS,
      include: { taskInstances: true },
    });
    let unfinished = 0;
    for (const run of runs)
      for (const ti of run.taskInstances)
        if (ti.dagVersionId !== target && (ti.state === null || UNFINISHED.has(ti.state)))
          unfinished++;
    if (unfinished < 0) throw new Error('unreachable');
  });
}

async function oursStep(
  prisma: PrismaClient,
  target: string,
  tasks: readonly TaskSpec[],
): Promise<void> {
  await prisma.$transaction(
    async (tx) => {
      const runs = await lockRunsToExamine(tx, RUNS);
      const moved = runs
        .filter((run) => run.versionId !== target)
        .map((run) => ({ runPk: run.id, dagId: run.dagId, runId: run.runId }));
      await repointRunsToVersion(tx, { runs: moved, versionId: target, tasks });
      await markRunsExamined(
        tx,
        runs.map((run) => run.id),
      );
    },
    { timeout: 120_000 },
  );
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Bytes `step` allocates on the JS heap, collected or not: V8's sampling heap profiler with the
 * objects later freed by minor and major GCs included. (A heapUsed delta is useless here: Prisma's
 * WebAssembly and Buffer use makes V8 collect during nearly every step.)
 */
async function measure(
  session: Session,
  step: () => Promise<void>,
): Promise<{ bytes: number; ms: number }> {
  gc!();
  await post(session, 'HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const started = performance.now();
  await step();
  const ms = performance.now() - started;
  const { profile } = (await post(session, 'HeapProfiler.stopSampling')) as {
    profile: { head: SamplingNode };
  };
  return { bytes: totalSelfSize(profile.head), ms };
}

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

function totalSelfSize(node: SamplingNode): number {
  let total = node.selfSize;
  for (const child of node.children) total += totalSelfSize(child);
  return total;
}

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error, result) =>
      error ? reject(error) : resolve(result),
    ),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runIncident3(prisma: PrismaClient, iterations = 8): Promise<Incident3Result> {
  if (!gc) throw new Error('run with node --expose-gc');
  const document = makeDagDocument({ taskCount: TASKS, seed: 3, dagId: 'incident3' });
  const tasks = taskSpecs(buildDag(document));
  await prisma.dag.create({ data: { dagId: document.dag_id } });
  const v1 = await createVersion(prisma, document, 1, 'v1');
  const v2 = await createVersion(prisma, document, 2, 'v2');
  for (let r = 0; r < RUNS; r++) {
    const runId = `run_${r}`;
    await prisma.dagRun.create({
      data: {
        dagId: document.dag_id,
        runId,
        state: 'running',
        runType: 'manual',
        createdDagVersionId: v1,
        currentDagVersionId: v1,
      },
    });
    await prisma.taskInstance.createMany({
      data: tasks.map((task, i) => ({
        dagId: document.dag_id,
        runId,
        taskId: task.taskId,
        dagVersionId: v1,
        maxTries: task.retries,
        // a fifth finished, the rest still ahead: the usual shape of a running run
        state: i < TASKS / 5 ? 'success' : null,
      })),
    });
  }

  await analyzeSchedulerTables(prisma);
  const session = new Session();
  session.connect();
  let target = v2;
  const flip = () => (target = target === v1 ? v2 : v1);
  for (let i = 0; i < 3; i++) {
    await eagerStep(prisma, target, tasks);
    flip();
    await oursStep(prisma, target, tasks);
    flip();
  }
  const eager: { bytes: number; ms: number }[] = [];
  const ours: { bytes: number; ms: number }[] = [];
  const floor: { bytes: number; ms: number }[] = [];
  const loadOnly: { bytes: number; ms: number }[] = [];
  for (let i = 0; i < iterations; i++) {
    eager.push(await measure(session, () => eagerStep(prisma, target, tasks)));
    flip();
    ours.push(await measure(session, () => oursStep(prisma, target, tasks)));
    flip();
    floor.push(await measure(session, () => trivialStep(prisma)));
    loadOnly.push(await measure(session, () => eagerLoadOnly(prisma, target)));
  }
  // Steady state: the loop's whole examine step when nothing changed (the usual loop).
  const dagBag = new DagBag({
    role: 'scheduler',
    loader: createDagVersionLoader(prisma),
    settings: {},
    logger: silentLogger,
  });
  const loop = new SchedulingLoop({
    prisma,
    dagBag,
    executor: undefined,
    jobId: 0,
    hostname: 'bench',
    maxDagRunsPerLoop: RUNS,
    heartbeatTimeoutSeconds: 3600,
    logger: silentLogger,
  });
  const summary = (): LoopSummary => ({
    runsCreated: 0,
    runsStarted: 0,
    runsExamined: 0,
    runsFinished: { success: 0, failed: 0 },
    versionChanges: 0,
    taskStateChanges: 0,
    heartbeatTimeouts: 0,
    launched: 0,
    versionsLoaded: 0,
  });
  for (let i = 0; i < 3; i++) await loop.examineRuns(summary());
  const steady: { bytes: number; ms: number }[] = [];
  for (let i = 0; i < iterations; i++)
    steady.push(await measure(session, () => loop.examineRuns(summary())));
  dagBag.close();
  session.disconnect();
  return {
    runs: RUNS,
    tasks: TASKS,
    eagerBytes: median(eager.map((s) => s.bytes)),
    oursBytes: median(ours.map((s) => s.bytes)),
    floorBytes: median(floor.map((s) => s.bytes)),
    eagerLoadBytes: median(loadOnly.map((s) => s.bytes)),
    eagerLoadMs: median(loadOnly.map((s) => s.ms)),
    steadyLoopBytes: median(steady.map((s) => s.bytes)),
    steadyLoopMs: median(steady.map((s) => s.ms)),
    eagerMs: median(eager.map((s) => s.ms)),
    oursMs: median(ours.map((s) => s.ms)),
  };
}
