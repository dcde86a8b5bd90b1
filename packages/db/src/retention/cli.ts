/**
 * `pnpm db:clean --clean-before-timestamp <date-time> [--tables ...] [--dry-run] [--yes]
 * [--batch-size n]`: deletes history older than the timestamp (see clean.ts), as Airflow's
 * `airflow db clean`. Reads the database settings and DATA_DIR as the apps do (the embedded
 * PostgreSQL under DATA_DIR when DATABASE_URL is unset; the task logs under DATA_DIR/logs).
 * Exit status: 0 done (or nothing to do); 1 failed or not confirmed; 2 a mistake in the command
 * line or the settings, or asked to delete without --yes while stdin is not a terminal.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import {
  ConfigError,
  SHARED_SETTINGS,
  configProblemLine,
  dataDir,
  readConfig,
} from '@dagbag/config';
import { LOGGER_SETTINGS, createLogger } from '@dagbag/logger';
import { createPrismaClient } from '../client.ts';
import { openDatabase } from '../database.ts';
import { DATABASE_SETTINGS } from '../settings.ts';
import { cleanHistory } from './clean.ts';
import { CLEAN_USAGE, CleanUsageError, formatCleanCounts, parseCleanArgs } from './command.ts';

/** What a person must type to go on, as `airflow db clean` asks it. */
export const CONFIRMATION = 'delete rows';

const out = (text: string) => process.stdout.write(`${text}\n`);
const fail = (text: string) => process.stderr.write(`db:clean: ${text}\n`);

async function main(): Promise<number> {
  const request = parseCleanArgs(process.argv.slice(2));
  if (request.help) {
    out(CLEAN_USAGE);
    return 0;
  }
  const config = readConfig(
    { ...DATABASE_SETTINGS, ...SHARED_SETTINGS, ...LOGGER_SETTINGS },
    process.env,
  );
  // Progress and warnings go to stderr: stdout holds the counts, for a person or a script.
  const logger = createLogger({
    name: 'db-clean',
    level: config.LOG_LEVEL,
    format: config.LOG_FORMAT,
    stderr: true,
  });
  if (!request.dryRun && !request.yes && !process.stdin.isTTY) {
    fail(
      'stdin is not a terminal, so nobody can confirm: add --yes to delete (or --dry-run to count)',
    );
    return 2;
  }
  const data = dataDir(config.DATA_DIR);
  let logsRoot: string | undefined = join(data, 'logs');
  if (!existsSync(logsRoot)) {
    logger.warn(
      { logsRoot },
      'no logs folder here: task log files are not removed (run the command where the scheduler writes them, with its DATA_DIR)',
    );
    logsRoot = undefined;
  }
  const database = await openDatabase({ settings: config, dataDir: data, logger, migrate: false });
  const prisma = createPrismaClient({
    url: database.url,
    settings: config,
    applicationName: 'dagbag-db-clean',
  });
  try {
    const options = {
      before: request.before,
      tables: request.tables,
      batchSize: request.batchSize,
      logsRoot,
      logger,
    };
    const moment = request.before.toISOString();
    if (request.dryRun || !request.yes) {
      const planned = await cleanHistory(prisma, { ...options, dryRun: true });
      out(
        `History that ended before ${moment}${request.dryRun ? ' (dry run: nothing deleted)' : ''}:`,
      );
      out(formatCleanCounts(planned, { tables: request.tables, logsRoot }));
      if (request.dryRun) return 0;
      const readline = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await readline
        .question(
          `\nThis cannot be undone: back up the database first (see Upgrade in the README).\nType '${CONFIRMATION}' to delete them: `,
        )
        .finally(() => readline.close());
      if (answer.trim() !== CONFIRMATION) {
        out('Not confirmed: nothing deleted.');
        return 1;
      }
    }
    const started = performance.now();
    const deleted = await cleanHistory(prisma, options);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    out(`Deleted history that ended before ${moment}, in ${seconds} s:`);
    out(formatCleanCounts(deleted, { tables: request.tables, logsRoot }));
    return 0;
  } finally {
    await prisma.$disconnect();
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CleanUsageError) {
      fail(error.message);
      process.stderr.write(`${CLEAN_USAGE}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      for (const problem of error.problems) fail(configProblemLine(problem));
      process.exit(2);
    }
    fail(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
