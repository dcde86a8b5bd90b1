/**
 * Demo history for the example DAGs shipped in `dags/`: three versions of each (the file as it is
 * now being the newest) and a few finished runs on each, with task logs. Only those DAGs, and only
 * when DAGS_FOLDER is `dags/` (the default): a user's own DAGs never get invented history, their
 * version 1 comes from their first parse. Idempotent: a DAG that already has versions is left
 * alone.
 *   pnpm db:seed                   (uses DATABASE_URL, or the embedded PostgreSQL)
 */
import { realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SHARED_SETTINGS, dataDir, exampleDagsFolder, readConfig } from '@dagbag/config';
import {
  dagHash,
  firstDagrun,
  parseDagSource,
  taskLogPath,
  type DagDocument,
  type TaskDocument,
} from '@dagbag/dagbag';
import {
  DATABASE_SETTINGS,
  createPrismaClient,
  dagFileFields,
  hasAnyDagVersion,
  openDatabase,
  writeDemoHistory,
  type DemoDag,
  type DatabaseSettings,
  type DemoRun,
} from '@dagbag/db';
import { LOGGER_SETTINGS, createLogger, type Logger } from '@dagbag/logger';

const HOUR = 3_600_000;

/** The document without its last task (and without references to it): an older shape of the DAG. */
function withoutLastTask(document: DagDocument): DagDocument {
  const dropped = document.tasks.at(-1)!.task_id;
  const tasks: TaskDocument[] = document.tasks
    .slice(0, -1)
    .map((task) => ({ ...task, upstream: task.upstream.filter((id) => id !== dropped) }));
  return { ...document, tasks };
}

function versionsOf(document: DagDocument): DagDocument[] {
  if (document.tasks.length < 2) return [document];
  const older = withoutLastTask(document);
  const oldest = { ...older, description: `${older.description ?? document.dag_id} (first draft)` };
  return [oldest, older, document];
}

/** Topological order so that failures propagate downstream as the scheduler would. */
function runOf(document: DagDocument, runId: string, start: Date, fail: boolean): DemoRun {
  const states = new Map<string, DemoRun['taskInstances'][number]['state']>();
  // Fail a task that has a downstream, so the demo shows upstream_failed too.
  const hasDownstream = (id: string) => document.tasks.some((task) => task.upstream.includes(id));
  const bashTasks = document.tasks.filter((task) => task.operator === 'bash');
  const failing = fail
    ? (bashTasks.find((task) => hasDownstream(task.task_id)) ?? bashTasks[0])?.task_id
    : undefined;
  const pending = [...document.tasks];
  const ordered: TaskDocument[] = [];
  while (pending.length > 0) {
    const index = pending.findIndex((task) => task.upstream.every((id) => states.has(id)));
    const task = pending.splice(index === -1 ? 0 : index, 1)[0]!;
    const upstreamFailed = task.upstream.some((id) => states.get(id) !== 'success');
    states.set(
      task.task_id,
      upstreamFailed ? 'upstream_failed' : task.task_id === failing ? 'failed' : 'success',
    );
    ordered.push(task);
  }
  let clock = start.getTime();
  const taskInstances = ordered.map((task) => {
    const startDate = new Date(clock);
    clock += 1_000 + (task.task_id.length % 5) * 700;
    return {
      taskId: task.task_id,
      operator: task.operator,
      state: states.get(task.task_id)!,
      startDate,
      endDate: new Date(clock),
    };
  });
  return {
    runId,
    state: [...states.values()].every((state) => state === 'success') ? 'success' : 'failed',
    runType: 'manual',
    logicalDate: start,
    startDate: start,
    endDate: new Date(clock),
    taskInstances,
  };
}

interface ExampleDag {
  document: DagDocument;
  file: string;
  relativeFile: string;
}

async function readExampleDags(folder: string, logger: Logger): Promise<ExampleDag[]> {
  const files = (await readdir(folder)).filter((name) => /\.(json|ya?ml)$/.test(name)).sort();
  const dags: ExampleDag[] = [];
  for (const name of files) {
    const file = join(folder, name);
    const parsed = parseDagSource(await readFile(file, 'utf8'), name);
    // relative_fileloc is relative to DAGS_FOLDER, as the processor writes it.
    if (parsed.ok)
      dags.push({ document: parsed.document, file, relativeFile: relative(folder, file) });
    else logger.warn({ file, problems: parsed.errors }, 'seed skips an invalid DAG file');
  }
  return dags;
}

export function demoHistory(examples: ExampleDag[], now: Date): DemoDag[] {
  return examples.map(({ document, file, relativeFile }, dagIndex) => {
    const versions = versionsOf(document);
    const fields = dagFileFields(document, { fileloc: file, relativeFileloc: relativeFile });
    return {
      ...fields,
      nextDagrun: firstDagrun(
        document.schedule,
        fields.startDate,
        document.catchup,
        now,
        null,
        fields.timezone,
      ),
      versions: versions.map((version, versionIndex) => {
        const age = (versions.length - versionIndex) * 24 * HOUR + dagIndex * HOUR;
        const createdAt = new Date(now.getTime() - age);
        return {
          data: version,
          dagHash: dagHash(version),
          createdAt,
          runs: [0, 1].map((n) => {
            const start = new Date(createdAt.getTime() + (n + 1) * 3 * HOUR);
            return runOf(version, `manual__seed_v${versionIndex + 1}_${n + 1}`, start, n === 1);
          }),
        };
      }),
    };
  });
}

async function writeLogs(dags: DemoDag[], written: string[], logsRoot: string): Promise<void> {
  for (const dag of dags.filter((d) => written.includes(d.dagId))) {
    for (const run of dag.versions.flatMap((version) => version.runs)) {
      for (const ti of run.taskInstances.filter(
        (t) => t.state === 'success' || t.state === 'failed',
      )) {
        const path = taskLogPath(logsRoot, {
          dagId: dag.dagId,
          runId: run.runId,
          taskId: ti.taskId,
          tryNumber: 1,
        });
        await mkdir(dirname(path), { recursive: true });
        await writeFile(
          path,
          `[${ti.startDate.toISOString()}] demo history written by pnpm db:seed\n` +
            `[${ti.endDate.toISOString()}] task ${ti.taskId} finished: ${ti.state}\n`,
        );
      }
    }
  }
}

/** Whether `folder` is the example folder `dags/` (symbolic links and relative paths resolved). */
export function isExampleDagsFolder(folder: string): boolean {
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return resolve(path);
    }
  };
  return real(folder) === real(exampleDagsFolder());
}

/**
 * What `pnpm dev` calls on every start: seeds the examples when the scheduler will read `dags/`
 * (`dagsFolder`) and the database holds no DAG version at all; otherwise writes nothing.
 */
export async function seedIfEmpty(
  database: { url: string; settings: DatabaseSettings },
  logger: Logger,
  options: { logsRoot: string; dagsFolder: string },
): Promise<string[]> {
  if (!isExampleDagsFolder(options.dagsFolder)) {
    logger.info(
      { dagsFolder: options.dagsFolder },
      'DAGS_FOLDER is not the example folder dags/: no demo history, each DAG gets version 1 from its first parse',
    );
    return [];
  }
  const prisma = createPrismaClient({
    url: database.url,
    settings: database.settings,
    applicationName: 'seed',
  });
  try {
    if (await hasAnyDagVersion(prisma)) return [];
    return await seed(prisma, logger, { logsRoot: options.logsRoot });
  } finally {
    await prisma.$disconnect();
  }
}

export async function seed(
  prisma: ReturnType<typeof createPrismaClient>,
  logger: Logger,
  options: { logsRoot: string; now?: Date },
): Promise<string[]> {
  const folder = exampleDagsFolder();
  const dags = demoHistory(await readExampleDags(folder, logger), options.now ?? new Date());
  const written = await writeDemoHistory(prisma, dags);
  await writeLogs(dags, written, options.logsRoot);
  logger.info(
    { folder, seeded: written, skipped: dags.length - written.length },
    'demo history seeded',
  );
  return written;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const logging = readConfig(LOGGER_SETTINGS, process.env);
  const logger = createLogger({
    name: 'seed',
    level: logging.LOG_LEVEL,
    format: logging.LOG_FORMAT,
  });
  const dagsFolder = process.env.DAGS_FOLDER;
  if (dagsFolder && !isExampleDagsFolder(dagsFolder)) {
    process.stderr.write(
      `pnpm db:seed writes demo history for the example DAGs in ${exampleDagsFolder()} only, but ` +
        `DAGS_FOLDER is ${resolve(dagsFolder)}: unset DAGS_FOLDER to seed the examples.\n`,
    );
    process.exit(1);
  }
  const config = readConfig({ ...DATABASE_SETTINGS, ...SHARED_SETTINGS }, process.env);
  const data = dataDir(config.DATA_DIR);
  const database = await openDatabase({ settings: config, dataDir: data, logger });
  const prisma = createPrismaClient({
    url: database.url,
    settings: config,
    applicationName: 'seed',
  });
  try {
    await seed(prisma, logger, { logsRoot: join(data, 'logs') });
  } finally {
    await prisma.$disconnect();
    await database.stop();
  }
}
