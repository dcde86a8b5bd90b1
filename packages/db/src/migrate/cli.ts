/**
 * `pnpm db:migrate` — apply pending migrations (like `prisma migrate deploy`);
 * `pnpm db:migration NAME` — write the next migration from the schema diff
 * (like `prisma migrate dev --create-only`).
 * With DATABASE_URL unset, `db:migrate` starts the embedded PostgreSQL under .data/.
 */
import { ConfigError, SHARED_SETTINGS, dataDir, readConfig } from '@dagbag/config';
import { LOGGER_SETTINGS, createLogger } from '@dagbag/logger';
import { openDatabase, type OpenDatabaseOptions } from '../database.ts';
import { connectionFailure } from '../errors.ts';
import { DATABASE_SETTINGS } from '../settings.ts';
import { MigrationError, createMigration, migrateDatabase } from './operations.ts';

const logging = readConfig(LOGGER_SETTINGS, process.env);
const logger = createLogger({ name: 'db', level: logging.LOG_LEVEL, format: logging.LOG_FORMAT });
const [command, name] = process.argv.slice(2);

/** This command's settings, read once: the database's and DATA_DIR. */
function databaseOptions(): OpenDatabaseOptions {
  const config = readConfig({ ...DATABASE_SETTINGS, ...SHARED_SETTINGS }, process.env);
  return { settings: config, dataDir: dataDir(config.DATA_DIR), logger, migrate: false };
}

async function main(): Promise<number> {
  if (command === 'migrate') {
    const options = databaseOptions();
    const database = await openDatabase(options);
    const variable = options.settings.DATABASE_DIRECT_URL ? 'DATABASE_DIRECT_URL' : 'DATABASE_URL';
    try {
      const { applied } = await migrateDatabase(database.migrationUrl, { logger }).catch(
        (error: unknown) => {
          throw database.embedded
            ? error
            : connectionFailure(error, variable, database.migrationUrl);
        },
      );
      logger.info(
        { applied: applied.length },
        applied.length ? 'migrations applied' : 'no pending migrations',
      );
    } finally {
      await database.stop();
    }
    return 0;
  }
  if (command === 'create') {
    if (!name) {
      logger.error('usage: pnpm db:migration <snake_case_name>');
      return 2;
    }
    const database = await openDatabase(databaseOptions());
    const created = await createMigration(database.migrationUrl, name).finally(() =>
      database.stop(),
    );
    if (created)
      logger.info(
        { directory: created.directory },
        'migration written; review it, then run pnpm db:migrate',
      );
    else logger.info('schema.prisma matches the newest migration: nothing to write');
    return 0;
  }
  logger.error({ command }, 'usage: cli.ts migrate | create <name>');
  return 2;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      logger.fatal(error.message);
      process.exit(2);
    }
    if (error instanceof MigrationError) {
      logger.fatal({ err: error }, error.message);
      process.exit(1);
    }
    logger.error({ err: error }, 'database command failed');
    process.exit(1);
  },
);
