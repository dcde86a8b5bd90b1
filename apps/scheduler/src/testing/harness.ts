/**
 * Test harness: a fresh migrated database, a temporary DAGS_FOLDER and logs folder, and helpers to
 * write DAG files, trigger runs as the API does, and drive schedulers.
 */
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DagBag, type DagDocumentInput } from '@dagbag/dagbag';
import { DagProcessorLock, createApiQueries, createDagVersionLoader } from '@dagbag/db';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import { silentLogger } from '@dagbag/logger';
import { readSchedulerConfig, type SchedulerConfig } from '../config.ts';
import { DagFileProcessor } from '../processor/dag-file-processor.ts';
import { createScheduler, type Scheduler, type SchedulerOptions } from '../scheduler.ts';

export interface Harness {
  db: TestDatabase;
  dagsFolder: string;
  logsRoot: string;
  workDir: string;
  config(overrides?: Record<string, string>): SchedulerConfig;
  writeDag(doc: DagDocumentInput, fileName?: string): Promise<string>;
  writeRaw(fileName: string, text: string): Promise<string>;
  removeFile(fileName: string): Promise<void>;
  /**
   * Stores the DAGS_FOLDER's DAGs once with a processor of its own (for tests whose schedulers run
   * as child processes), then lets go of the processor lock.
   */
  storeDags(): Promise<void>;
  /** The environment of a child-process scheduler on this harness's database and folders. */
  childEnv(extra?: Record<string, string>): Record<string, string>;
  scheduler(
    options?: Partial<SchedulerOptions> & { env?: Record<string, string> },
  ): Promise<Scheduler>;
  /**
   * Triggers a run as the API does (its own query): queued, manual, on the DAG's latest version,
   * with its task instances in state null, and the given `conf` (default `{}`).
   */
  trigger(dagId: string, runId: string, conf?: Record<string, unknown>): Promise<void>;
  runState(dagId: string, runId: string): Promise<string | undefined>;
  taskStates(dagId: string, runId: string): Promise<Record<string, string | null>>;
  close(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const db = await createTestDatabase();
  const workDir = await mkdtemp(join(tmpdir(), 'dagbag-scheduler-test-'));
  const dagsFolder = join(workDir, 'dags');
  const logsRoot = join(workDir, 'logs');
  await mkdir(dagsFolder, { recursive: true });
  const schedulers: Scheduler[] = [];
  const api = createApiQueries(db.prisma);
  // The API's DAG cache, for the task instances a trigger creates.
  const apiDagBag = new DagBag({
    role: 'api',
    loader: createDagVersionLoader(db.prisma),
    logger: silentLogger,
  });
  const config = (overrides: Record<string, string> = {}) =>
    readSchedulerConfig({
      DAGS_FOLDER: dagsFolder,
      SCHEDULER_LOOP_INTERVAL_MS: '50',
      ...overrides,
    });

  return {
    db,
    dagsFolder,
    logsRoot,
    workDir,
    config,
    async writeDag(doc, fileName = `${doc.dag_id}.json`) {
      const path = join(dagsFolder, fileName);
      await writeFile(path, JSON.stringify(doc, null, 2));
      return path;
    },
    async writeRaw(fileName, text) {
      const path = join(dagsFolder, fileName);
      await writeFile(path, text);
      return path;
    },
    async removeFile(fileName) {
      await unlink(join(dagsFolder, fileName));
    },
    childEnv(extra = {}) {
      return {
        DATABASE_URL: db.url,
        DAGS_FOLDER: dagsFolder,
        DATA_DIR: workDir,
        SCHEDULER_LOOP_INTERVAL_MS: '100',
        ...extra,
      };
    },
    async storeDags() {
      const processor = new DagFileProcessor({
        prisma: db.prisma,
        lock: new DagProcessorLock(db.url),
        dagsFolder,
        logger: silentLogger,
      });
      await processor.processOnce();
      await processor.close();
    },
    async scheduler(options = {}) {
      const { env, ...rest } = options;
      const scheduler = await createScheduler({
        prisma: db.prisma,
        databaseUrl: db.url,
        config: config(env),
        logger: silentLogger,
        logsRoot,
        dagBag: { settings: {} },
        ...rest,
      });
      schedulers.push(scheduler);
      return scheduler;
    },
    async trigger(dagId, runId, conf = {}) {
      const version = await db.prisma.dagVersion.findFirst({
        where: { dagId },
        orderBy: { versionNumber: 'desc' },
      });
      const now = new Date();
      await api.createDagRun(
        {
          dagId,
          runId,
          logicalDate: null,
          runAfter: now,
          dataIntervalStart: null,
          dataIntervalEnd: null,
          conf,
          note: null,
          createdDagVersionId: version!.id,
          queuedAt: now,
          triggeringUserName: null,
        },
        apiDagBag,
      );
    },
    async runState(dagId, runId) {
      return (await db.prisma.dagRun.findUnique({ where: { dagId_runId: { dagId, runId } } }))
        ?.state;
    },
    async taskStates(dagId, runId) {
      const rows = await db.prisma.taskInstance.findMany({
        where: { dagId, runId },
        orderBy: { taskId: 'asc' },
      });
      return Object.fromEntries(rows.map((row) => [row.taskId, row.state]));
    },
    async close() {
      for (const scheduler of schedulers) await scheduler.stop(0).catch(() => undefined);
      apiDagBag.close();
      await db.drop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** Runs loop iterations until `done()` holds (tasks run as real processes meanwhile). */
export async function loopUntil(
  scheduler: Scheduler,
  done: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await scheduler.runLoopOnce();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function waitFor(
  done: () => Promise<boolean>,
  timeoutMs = 20_000,
  stepMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
