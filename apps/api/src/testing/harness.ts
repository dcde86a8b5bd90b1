/**
 * A real API on an ephemeral port over a freshly migrated test database, plus seeding helpers.
 * Tests talk to it over HTTP with fetch, exactly as clients do.
 */
import { mkdtempSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DagBag,
  dagHash,
  type DagDocument,
  type DagDocumentInput,
  dagDocumentSchema,
  scheduleTimezone,
} from '@dagbag/dagbag';
import { createDagVersionLoader, Notifier, type PrismaClient } from '@dagbag/db';
import {
  createRecordingPrismaClient,
  createTestDatabase,
  type TestDatabase,
} from '@dagbag/db/testing';
import { repoRoot } from '@dagbag/config';
import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx, type TsxChild } from '@dagbag/config/testing/spawn-tsx';
import { silentLogger, type Logger } from '@dagbag/logger';
import { createApp, type ApiApp } from '../app.ts';
import { ListingCache, type ListingCacheOptions } from '../listing-cache.ts';
import { renderStructure } from '../serialize.ts';
import { startServer, type RunningServer } from '../server.ts';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface TestApi {
  db: TestDatabase;
  prisma: PrismaClient;
  dagBag: DagBag;
  app: ApiApp;
  server: RunningServer;
  url: string;
  logsDir: string;
  /** The listing cache (off unless `listingCache` was given). */
  listings: ListingCache;
  /** The API's notification listener, when `listingCache` was given. */
  notifier: Notifier | undefined;
  /** Every SQL statement the API itself sent (not the test's seeding), to prove round trips. */
  statements: string[];
  request(
    path: string,
    init?: RequestInit & { json?: unknown; token?: string | null },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApi(
  options: {
    db?: TestDatabase;
    prisma?: PrismaClient;
    /** API_AUTH_TOKENS entries; default [TEST_TOKEN]. */
    authTokens?: readonly string[];
    /** Where the app's request lines and warnings go; default nowhere. */
    logger?: Logger;
    /**
     * A listing cache following a notifier of its own, as main.ts sets it up (started and
     * listening before this resolves). Default: no cache, every listing reads the database.
     */
    listingCache?: Partial<ListingCacheOptions> & {
      /** false: no notifier, as with DATABASE_NOTIFICATIONS=off (default true). */
      notifications?: boolean;
    };
  } = {},
): Promise<TestApi> {
  const db = options.db ?? (await createTestDatabase());
  const prisma = options.prisma ?? db.prisma;
  // Unless the test brings its own client, the API gets one that records its statements.
  const recording = options.prisma ? undefined : createRecordingPrismaClient(db.url);
  const apiPrisma = recording?.prisma ?? prisma;
  const dagBag = new DagBag({
    role: 'api',
    loader: createDagVersionLoader(apiPrisma),
    settings: {},
    render: renderStructure,
  });
  const logsDir = mkdtempSync(join(tmpdir(), 'dagbag-api-logs-'));
  const { notifications = true, ...cacheOptions } = options.listingCache ?? {};
  const listings = new ListingCache({
    maxBytes: options.listingCache ? 1_048_576 : 0,
    ...cacheOptions,
  });
  const notifier =
    options.listingCache && notifications
      ? new Notifier({ url: db.url, backoffInitialMs: 20, backoffMaxMs: 200 })
      : undefined;
  if (notifier) {
    listings.follow(notifier);
    await notifier.start().listening();
  }
  const app = createApp({
    prisma: apiPrisma,
    dagBag,
    listingCache: listings,
    logger: options.logger ?? silentLogger,
    logsDir,
    config: {
      authTokens: options.authTokens ?? [TEST_TOKEN],
      bodyLimitBytes: 64 * 1024,
      bodyMaxDepth: 32,
    },
  });
  const server = await startServer(app, { host: '127.0.0.1', port: 0, logger: silentLogger });
  return {
    db,
    prisma,
    dagBag,
    app,
    server,
    url: server.url,
    logsDir,
    listings,
    notifier,
    statements: recording?.statements ?? [],
    request(path, init = {}) {
      const { json, token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null) headers.set('authorization', `Bearer ${token ?? TEST_TOKEN}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${server.url}${path}`, {
        ...rest,
        headers,
        body: json === undefined ? rest.body : JSON.stringify(json),
      });
    },
    async close() {
      await server.close(1000);
      await notifier?.close();
      listings.close();
      dagBag.close();
      await recording?.prisma.$disconnect();
      if (!options.db) await db.drop();
    },
  };
}

/** A small valid document: `extract -> transform -> load`, or the tasks given. */
export function smallDag(dagId: string, overrides: Partial<DagDocumentInput> = {}): DagDocument {
  return dagDocumentSchema.parse({
    dag_id: dagId,
    description: `${dagId} for tests`,
    tags: ['test'],
    tasks: [
      {
        task_id: 'extract',
        operator: 'bash',
        bash_command: 'echo extract',
        retries: 2,
        retry_delay_seconds: 5,
        execution_timeout_seconds: 90_000,
      },
      { task_id: 'transform', operator: 'empty', upstream: ['extract'] },
      {
        task_id: 'load',
        operator: 'bash',
        bash_command: 'echo load',
        upstream: ['transform'],
        retries: 1,
      },
    ],
    ...overrides,
  });
}

/** Inserts the `dag` row (if missing) and one version per document; returns the version ids. */
export async function seedDag(
  prisma: PrismaClient,
  dagId: string,
  documents: DagDocument[],
  dag: { fileloc?: string } = {},
): Promise<string[]> {
  await prisma.dag.upsert({
    where: { dagId },
    create: {
      dagId,
      fileloc: dag.fileloc ?? `/dags/${dagId}.json`,
      relativeFileloc: `${dagId}.json`,
      description: documents.at(-1)?.description ?? null,
      tags: documents.at(-1)?.tags ?? [],
      // As the DAG processor stores it.
      timezone: documents.length > 0 ? scheduleTimezone(documents.at(-1)!) : null,
      lastParsedTime: new Date(),
      startDate: new Date('2026-01-01T00:00:00Z'),
    },
    update: {},
  });
  const existing = await prisma.dagVersion.count({ where: { dagId } });
  const ids: string[] = [];
  for (const [index, document] of documents.entries()) {
    const version = await prisma.dagVersion.create({
      data: {
        dagId,
        versionNumber: existing + index + 1,
        serializedDag: { create: { dagId, data: document, dagHash: dagHash(document) } },
      },
    });
    ids.push(version.id);
  }
  return ids;
}

/** A run with task instances as the scheduler would have left them. */
export async function seedRun(
  prisma: PrismaClient,
  run: {
    dagId: string;
    runId: string;
    versionId: string;
    state?: string;
    /** Default: a day after the DAG's latest seeded run (a DAG has one run per logical date). */
    logicalDate?: Date | null;
    tis?: {
      taskId: string;
      state: string | null;
      tryNumber?: number;
      maxTries?: number;
      operator?: string;
    }[];
  },
): Promise<void> {
  const started = new Date('2026-02-01T10:00:00Z');
  const seeded = await prisma.dagRun.count({ where: { dagId: run.dagId } });
  const logicalDate =
    run.logicalDate === undefined
      ? new Date(started.getTime() + seeded * 86_400_000)
      : run.logicalDate;
  await prisma.dagRun.create({
    data: {
      dagId: run.dagId,
      runId: run.runId,
      state: run.state ?? 'running',
      runType: 'scheduled',
      logicalDate,
      runAfter: started,
      dataIntervalStart: started,
      dataIntervalEnd: started,
      queuedAt: started,
      startDate: started,
      // What our scheduler writes; the API reports Airflow's 'timetable'.
      triggeredBy: 'scheduler',
      conf: { source: 'test' },
      createdDagVersionId: run.versionId,
    },
  });
  for (const ti of run.tis ?? []) {
    await prisma.taskInstance.create({
      data: {
        dagId: run.dagId,
        runId: run.runId,
        taskId: ti.taskId,
        dagVersionId: run.versionId,
        state: ti.state,
        tryNumber: ti.tryNumber ?? 1,
        maxTries: ti.maxTries ?? 0,
        operator: ti.operator ?? 'bash',
        startDate: ti.state ? started : null,
        endDate:
          ti.state && ['success', 'failed', 'skipped', 'upstream_failed'].includes(ti.state)
            ? new Date(started.getTime() + 5000)
            : null,
        duration: ti.state && ['success', 'failed'].includes(ti.state) ? 5 : null,
        hostname: ti.state ? 'worker-1' : null,
        pid: ti.state ? 4242 : null,
      },
    });
  }
}

/** A real scheduler process (apps/scheduler's main.ts) beside a test API, on the same database. */
export interface TestScheduler {
  child: TsxChild;
  /** Polls `done` every 100 ms; a timeout error carries what the scheduler printed. */
  until(done: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export async function startTestScheduler(options: {
  databaseUrl: string;
  dagsFolder: string;
  dataDir: string;
  /** More settings; a fast loop, a 1 s folder scan and warn logs are set already. */
  env?: Record<string, string>;
}): Promise<TestScheduler> {
  const child = spawnTsx('src/main.ts', {
    cwd: join(repoRoot(), 'apps', 'scheduler'),
    env: {
      DATABASE_URL: options.databaseUrl,
      DAGS_FOLDER: options.dagsFolder,
      DATA_DIR: options.dataDir,
      METRICS_PORT: String(await freePort()),
      SCHEDULER_LOOP_INTERVAL_MS: '100',
      DAG_DIR_SCAN_SECONDS: '1',
      LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  return {
    child,
    async until(done, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await done())) {
        if (Date.now() > deadline)
          throw new Error(`not reached within ${timeoutMs} ms; scheduler said:\n${child.output()}`);
        await sleep(100);
      }
    },
    async stop() {
      if (child.process.exitCode !== null) return;
      child.process.kill('SIGTERM');
      await Promise.race([child.exited, sleep(10_000)]);
      if (child.process.exitCode === null) child.process.kill('SIGKILL');
    },
  };
}

/**
 * A test API and, once the test has written its DAG files into `dagsFolder` (empty, in the
 * temporary `workDir`), a real scheduler process beside it: for the tests of what the two do
 * together. `close` stops the scheduler and the API and removes the folder.
 */
export interface ApiAndScheduler {
  api: TestApi;
  workDir: string;
  dagsFolder: string;
  /** Starts the scheduler on `dagsFolder` and the API's database (see startTestScheduler). */
  startScheduler(env?: Record<string, string>): Promise<TestScheduler>;
  close(): Promise<void>;
}

export async function startApiAndScheduler(folderPrefix: string): Promise<ApiAndScheduler> {
  const api = await startTestApi();
  const workDir = await mkdtemp(join(tmpdir(), folderPrefix));
  const dagsFolder = join(workDir, 'dags');
  await mkdir(dagsFolder);
  let scheduler: TestScheduler | undefined;
  return {
    api,
    workDir,
    dagsFolder,
    async startScheduler(env) {
      scheduler = await startTestScheduler({
        databaseUrl: api.db.url,
        dagsFolder,
        dataDir: workDir,
        env,
      });
      return scheduler;
    },
    async close() {
      await scheduler?.stop();
      await api.close();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `body` while the event log refuses every `event` row (a trigger raising on its insert), as
 * an audit write that fails would: a route must then answer an error and change nothing.
 */
export async function whileEventRefused<T>(
  prisma: PrismaClient,
  event: string,
  body: () => Promise<T>,
): Promise<T> {
  const name = `refuse_${event.replace(/\W/g, '_')}`;
  await prisma.$executeRawUnsafe(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the event log refuses %', NEW.event; END $$`);
  await prisma.$executeRawUnsafe(`
    CREATE TRIGGER ${name} BEFORE INSERT ON log FOR EACH ROW
    WHEN (NEW.event = '${event}') EXECUTE FUNCTION ${name}()`);
  try {
    return await body();
  } finally {
    await prisma.$executeRawUnsafe(`DROP TRIGGER ${name} ON log`);
    await prisma.$executeRawUnsafe(`DROP FUNCTION ${name}()`);
  }
}
