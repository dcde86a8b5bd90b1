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

const RUNS = 50;
const TASKS = 20;
let rounds = 0;

export interface ThroughputRow {
  operator: 'empty' | 'bash';
  loopIntervalMs: number;
  taskInstances: number;
  seconds: number;
  perSecond: number;
}

/** Four layers of five tasks, each task waiting for the whole layer above it. */
function layeredDag(dagId: string, operator: 'empty' | 'bash'): DagDocumentInput {
  const tasks = [];
  for (let layer = 0; layer < 4; layer++) {
    for (let i = 0; i < TASKS / 4; i++) {
      const upstream =
        layer === 0 ? [] : Array.from({ length: TASKS / 4 }, (_, j) => `l${layer - 1}_${j}`);
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
  return { dag_id: dagId, max_active_runs: RUNS, tasks };
}

export async function runThroughput(
  prisma: PrismaClient,
  url: string,
  operator: 'empty' | 'bash',
  loopIntervalMs: number,
): Promise<ThroughputRow> {
  const workDir = await mkdtemp(join(tmpdir(), 'dagbag-throughput-'));
  const dagId = `throughput_${operator}_${loopIntervalMs}_${++rounds}`;
  await writeFile(join(workDir, `${dagId}.json`), JSON.stringify(layeredDag(dagId, operator)));
  const scheduler = await createScheduler({
    prisma,
    databaseUrl: url,
    logger: silentLogger,
    logsRoot: join(workDir, 'logs'),
    config: readSchedulerConfig({
      DAGS_FOLDER: workDir,
      SCHEDULER_LOOP_INTERVAL_MS: String(loopIntervalMs),
    }),
  });
  await scheduler.processDagFiles();
  const version = await prisma.dagVersion.findFirstOrThrow({ where: { dagId } });
  await prisma.dagRun.createMany({
    data: Array.from({ length: RUNS }, (_, i) => ({
      dagId,
      runId: `r${i}`,
      state: 'queued',
      runType: 'manual',
      createdDagVersionId: version.id,
    })),
  });
  const started = performance.now();
  scheduler.start();
  while (
    (await prisma.dagRun.count({ where: { dagId, state: { in: ['queued', 'running'] } } })) > 0
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  await scheduler.stop(0);
  const succeeded = await prisma.taskInstance.count({ where: { dagId, state: 'success' } });
  await rm(workDir, { recursive: true, force: true });
  return {
    operator,
    loopIntervalMs,
    taskInstances: succeeded,
    seconds,
    perSecond: succeeded / seconds,
  };
}
