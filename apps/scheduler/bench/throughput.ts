/**
 * Throughput, end to end: 50 runs x 20 tasks triggered at once on one scheduler (the real
 * createScheduler with its executor), timed from start until every run finished.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DagDocumentInput } from '@dagbag/dagbag';
import type { PrismaClient } from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';
import { readSchedulerConfig } from '../src/config.ts';
import { createScheduler } from '../src/scheduler.ts';

let rounds = 0;

/** Runs x tasks in layers (each task waits for the whole layer above it). */
export interface ThroughputShape {
  runs: number;
  tasks: number;
  layers: number;
}

export const FIFTY_RUNS_OF_FOUR_LAYERS: ThroughputShape = { runs: 50, tasks: 20, layers: 4 };

export interface ThroughputRow {
  operator: 'empty' | 'bash';
  loopIntervalMs: number;
  notifications: boolean;
  shape: ThroughputShape;
  loops: number;
  taskInstances: number;
  seconds: number;
  perSecond: number;
}

function layeredDag(
  dagId: string,
  operator: 'empty' | 'bash',
  shape: ThroughputShape,
): DagDocumentInput {
  const tasks = [];
  const perLayer = shape.tasks / shape.layers;
  for (let layer = 0; layer < shape.layers; layer++) {
    for (let i = 0; i < perLayer; i++) {
      const upstream =
        layer === 0 ? [] : Array.from({ length: perLayer }, (_, j) => `l${layer - 1}_${j}`);
      tasks.push(
        operator === 'empty'
          ? { task_id: `l${layer}_${i}`, operator: 'empty' as const, upstream }
          : {
              task_id: `l${layer}_${i}`,
              operator: 'bash' as const,
              bash_command: 'true',
              upstream,
            },
      );
    }
  }
  return { dag_id: dagId, max_active_runs: shape.runs, tasks };
}

export async function runThroughput(
  prisma: PrismaClient,
  url: string,
  operator: 'empty' | 'bash',
  loopIntervalMs: number,
  options: { notifications?: boolean; shape?: ThroughputShape } = {},
): Promise<ThroughputRow> {
  const shape = options.shape ?? FIFTY_RUNS_OF_FOUR_LAYERS;
  const notifications = options.notifications ?? false;
  const workDir = await mkdtemp(join(tmpdir(), 'dagbag-throughput-'));
  const dagId = `throughput_${operator}_${loopIntervalMs}_${++rounds}`;
  await writeFile(
    join(workDir, `${dagId}.json`),
    JSON.stringify(layeredDag(dagId, operator, shape)),
  );
  const scheduler = await createScheduler({
    prisma,
    databaseUrl: url,
    logger: silentLogger,
    logsRoot: join(workDir, 'logs'),
    config: readSchedulerConfig({
      DAGS_FOLDER: workDir,
      SCHEDULER_LOOP_INTERVAL_MS: String(loopIntervalMs),
    }),
    notifications,
    processDagFiles: false,
  });
  await scheduler.processDagFiles();
  const version = await prisma.dagVersion.findFirstOrThrow({ where: { dagId } });
  await prisma.dagRun.createMany({
    data: Array.from({ length: shape.runs }, (_, i) => ({
      dagId,
      runId: `r${i}`,
      state: 'queued',
      runType: 'manual',
      createdDagVersionId: version.id,
    })),
  });
  await scheduler.notifier?.start().listening();
  const loopsBefore = scheduler.loopsRun;
  const started = performance.now();
  scheduler.start();
  while (
    (await prisma.dagRun.count({ where: { dagId, state: { in: ['queued', 'running'] } } })) > 0
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const loops = scheduler.loopsRun - loopsBefore;
  await scheduler.stop(0);
  const succeeded = await prisma.taskInstance.count({ where: { dagId, state: 'success' } });
  await rm(workDir, { recursive: true, force: true });
  return {
    operator,
    loopIntervalMs,
    notifications,
    shape,
    loops,
    taskInstances: succeeded,
    seconds,
    perSecond: succeeded / seconds,
  };
}
