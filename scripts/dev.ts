/**
 * `pnpm dev`: the database (embedded PostgreSQL under .data/ unless DATABASE_URL is set), its
 * migrations, the demo history on first start (for the example DAGs, only when DAGS_FOLDER is
 * `dags/`), then the api and the scheduler in watch mode through turbo. Ctrl-C (or SIGTERM) stops
 * the apps, then the database: no process is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readApiConfig } from '@dagbag/api';
import {
  ConfigError,
  SHARED_SETTINGS,
  dataDir,
  exampleDagsFolder,
  onShutdown,
  readConfig,
  repoRoot,
} from '@dagbag/config';
import { DATABASE_SETTINGS, openDatabase } from '@dagbag/db';
import { LOGGER_SETTINGS, createLogger, reportStartFailure } from '@dagbag/logger';
import { readSchedulerConfig } from '@dagbag/scheduler';
import { seedIfEmpty } from '../prisma/seed.ts';

// Readable lines by default, for this process as for the apps it starts
// (LOG_FORMAT=json for machines).
const env = { LOG_FORMAT: 'pretty', ...process.env };
function failed(error: unknown): never {
  process.exit(reportStartFailure('dev', 'pnpm dev could not start', error, env));
}
let logging: ReturnType<typeof readConfig<typeof LOGGER_SETTINGS>>;
try {
  logging = readConfig(LOGGER_SETTINGS, env);
} catch (error) {
  failed(error);
}
const logger = createLogger({ name: 'dev', level: logging.LOG_LEVEL, format: logging.LOG_FORMAT });
const STOP_GRACE_MS = 20_000;
/**
 * Turbo gives its tasks 10 s after Ctrl-C, then kills them (it has no setting for that): a
 * scheduler waiting out the default 30-s SCHEDULER_SHUTDOWN_GRACE_SECONDS was killed with its
 * running tasks, which then stayed `running` until a heartbeat timeout failed them. Here they get
 * a few seconds, then are handed back (run again at the next start).
 */
const DEV_SHUTDOWN_GRACE_SECONDS = '3';

/**
 * The apps' own settings, checked before anything starts: in watch mode an app that stops on a bad
 * setting waits for a file change, so the system ran on without it (the API served, the scheduler
 * was gone). One line per bad variable, as each app would say it.
 */
function checkAppSettings(appEnv: Record<string, string | undefined>): void {
  const problems = new Map<string, ConfigError['problems'][number]>();
  for (const read of [readApiConfig, readSchedulerConfig]) {
    try {
      read(appEnv);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const problem of error.problems) problems.set(problem.variable, problem);
    }
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()]);
}

async function main(): Promise<void> {
  // The database settings and DATA_DIR, read once here; the apps read theirs themselves.
  const config = readConfig({ ...DATABASE_SETTINGS, ...SHARED_SETTINGS }, process.env);
  const data = dataDir(config.DATA_DIR);
  // The apps run with turbo's working directory (their package), where pnpm sets INIT_CWD anew:
  // hand them absolute folders, or a relative DATA_DIR is a folder of its own in each package
  // (the API then never sees the scheduler's task logs, the CLI never finds the API's token).
  const dagsFolder = process.env.DAGS_FOLDER
    ? resolve(process.env.INIT_CWD || process.cwd(), process.env.DAGS_FOLDER)
    : exampleDagsFolder();
  const appEnv = {
    ...process.env,
    DAGS_FOLDER: dagsFolder,
    DATA_DIR: data,
    LOG_FORMAT: logging.LOG_FORMAT,
    SCHEDULER_SHUTDOWN_GRACE_SECONDS:
      process.env.SCHEDULER_SHUTDOWN_GRACE_SECONDS || DEV_SHUTDOWN_GRACE_SECONDS,
  };
  checkAppSettings(appEnv);

  // Ctrl-C reaches this process (and pnpm), not the apps' group nor PostgreSQL's (each has its
  // own): the apps are stopped first, through turbo, and the database last. Handled from before
  // the database starts: a Ctrl-C while it started, migrated or was seeded ended this process
  // alone, and the embedded PostgreSQL ran on with nobody to stop it.
  const opening = openDatabase({ settings: config, dataDir: data, logger });
  const opened = () => opening.catch(() => undefined);
  let apps: ChildProcess | undefined;
  let exited: Promise<number> | undefined;
  const signalApps = (signal: NodeJS.Signals) => {
    if (apps?.pid === undefined) return;
    // Turbo starts each task in a process group of its own, which a signal to turbo's group does
    // not reach: a kill reaches every process under turbo, found while turbo still links them.
    const targets = signal === 'SIGKILL' ? [-apps.pid, ...descendantsOf(apps.pid)] : [-apps.pid];
    for (const target of targets) {
      try {
        process.kill(target, signal);
      } catch {
        // already gone
      }
    }
  };
  onShutdown(
    logger,
    async () => {
      stopping = true;
      if (exited !== undefined) {
        logger.info({}, 'stopping the apps, then the database');
        signalApps('SIGINT');
        const timer = setTimeout(() => signalApps('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      await (await opened())?.stop();
      logger.info({}, 'stopped');
    },
    {
      force: async () => {
        signalApps('SIGKILL');
        await (await opened())?.stop();
      },
    },
  );

  const database = await opening;
  if (stopping) return;
  await seedIfEmpty({ url: database.url, settings: config }, logger, {
    logsRoot: join(data, 'logs'),
    dagsFolder,
  });
  if (stopping) return;

  const turbo = join(repoRoot(), 'node_modules', '.bin', 'turbo');
  apps = spawn(turbo, ['run', 'dev', '--filter=@dagbag/api', '--filter=@dagbag/scheduler'], {
    cwd: repoRoot(),
    stdio: 'inherit',
    // Its own process group (turbo's node wrapper and binary), which Ctrl-C does not reach.
    detached: true,
    env: { ...appEnv, DATABASE_URL: database.url },
  });
  const started = apps;
  exited = new Promise<number>((resolve) =>
    started.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))),
  );
  void exited.then(async (code) => {
    if (stopping) return;
    logger.error({ code }, 'the apps exited on their own: stopping the database');
    await database.stop();
    process.exit(code === 0 ? 1 : code);
  });
}

/**
 * Every process below `root`, read from /proc (each process's parent is the fourth field of its
 * `stat`, after the command name in parentheses, which may itself hold spaces and parentheses).
 * Read while `root` lives: once it is gone, its children belong to init and nothing says whose
 * they were. A second Ctrl-C killed turbo alone and left the scheduler, still waiting for its
 * running task, on a database stopped under it: for good.
 */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0)
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  return found;
}

/** Set by the first Ctrl-C: what fails after it (a seed cut off by the stop) is not a failure. */
let stopping = false;

// Bad settings: exit code 2 and a line per bad variable, as the apps say it.
main().catch((error: unknown) => {
  if (!stopping) failed(error);
});
