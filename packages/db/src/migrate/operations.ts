/**
 * What `prisma migrate deploy` and `prisma migrate dev --create-only` do, on the WebAssembly
 * engine. The history lands in `_prisma_migrations` exactly as the Prisma CLI keeps it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '@dagbag/logger';
import { silentLogger } from '@dagbag/logger';
import { ADVISORY_LOCK_KEYS } from '../advisory-locks.ts';
import { NO_FILTERS, withSchemaEngine, type MigrationList, type SchemaFile } from './engine.ts';
import {
  MIGRATION_LOCK_CONTENT,
  PRISMA_PATHS,
  readMigrationList,
  readSchemaFile,
} from './files.ts';

/**
 * Serialises concurrent `db:migrate` runs across processes. Not Prisma's own key (72707369):
 * the engine takes that one itself, from another connection, and gives up after 10 s; waiting on
 * ours first means a second process waits as long as the first needs, then finds nothing to do.
 */
export const MIGRATE_LOCK_KEY = ADVISORY_LOCK_KEYS.migrate;

/** Next to each migration: the datamodel it produced, the starting point of the next diff. */
export const DATAMODEL_SNAPSHOT = 'datamodel.snapshot';

export interface MigrateResult {
  applied: string[];
}

/**
 * Why migrating stopped, in words an operator acts on (the database's own message, not the
 * engine's stack): a migration that failed, or a database newer than this release.
 */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function migrateDatabase(
  databaseUrl: string,
  options: { logger?: Logger; migrationsDir?: string } = {},
): Promise<MigrateResult> {
  const logger = options.logger ?? silentLogger;
  const migrationsList = await readMigrationList(options.migrationsDir);
  const schema = await readSchemaFile();
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await takeMigrateLock(lock, logger);
    const history = await readHistory(lock);
    refuseNewerDatabase(
      history,
      migrationsList.migrationDirectories.map((directory) => directory.path),
    );
    warnOfEditedMigrations(history, migrationsList, logger);
    await releaseUnfinishedMigrations(lock, history, logger);
    const pending = migrationsList.migrationDirectories.filter(
      (directory) => !history.some((row) => row.migration_name === directory.path && row.finished),
    );
    if (pending.length > 0)
      logger.info(
        { pending: pending.map((directory) => directory.path) },
        `applying ${pending.length} migration(s), one transaction each`,
      );
    const output = await withSchemaEngine({ databaseUrl, schema, logger }, (engine) =>
      engine.applyMigrations({ migrationsList, filters: NO_FILTERS }),
    ).catch(async (error: unknown) => {
      throw await migrationFailure(lock, error);
    });
    const applied = output.appliedMigrationNames;
    if (applied.length > 0) logger.info({ applied }, 'applied migrations');
    else logger.debug('database schema is up to date');
    return { applied };
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY]).catch(() => undefined);
    await lock.end();
  }
}

/**
 * Waits for any other migrate of ours (another app starting, `pnpm db:migrate`), saying so: a
 * long migration elsewhere would otherwise look like a start that hangs.
 */
async function takeMigrateLock(client: pg.Client, logger: Logger): Promise<void> {
  const { rows } = await client.query<{ taken: boolean }>(
    'SELECT pg_try_advisory_lock($1) AS taken',
    [MIGRATE_LOCK_KEY],
  );
  if (rows[0]?.taken) return;
  logger.info('another process is applying migrations to this database: waiting for it to finish');
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK_KEY]);
}

interface HistoryRow {
  migration_name: string;
  checksum: string;
  finished: boolean;
  rolled_back: boolean;
  failed: boolean;
}

/** `_prisma_migrations` as Prisma keeps it; empty for a fresh database. */
async function readHistory(client: pg.Client): Promise<HistoryRow[]> {
  const result = await client
    .query<HistoryRow>(
      `SELECT migration_name, checksum, finished_at IS NOT NULL AS finished,
              rolled_back_at IS NOT NULL AS rolled_back, logs IS NOT NULL AS failed
       FROM _prisma_migrations ORDER BY started_at`,
    )
    .catch((error: unknown) => {
      // No history yet: a fresh database.
      if ((error as { code?: string }).code === '42P01') return { rows: [] };
      throw error;
    });
  return result.rows;
}

/**
 * A database migrated by a newer release holds migrations this one does not know: its tables
 * may mean things this release would misread or overwrite (a downgrade). Refused before any
 * change, naming the way back.
 */
function refuseNewerDatabase(history: HistoryRow[], known: string[]): void {
  const knownNames = new Set(known);
  const unknown = history
    .filter((row) => row.finished && !row.rolled_back && !knownNames.has(row.migration_name))
    .map((row) => row.migration_name);
  if (unknown.length === 0) return;
  throw new MigrationError(
    `the database was migrated by a newer release of dagbag: it has ${unknown.length} ` +
      `migration(s) this release does not know (${unknown.join(', ')}; this release's newest is ` +
      `${known.at(-1) ?? 'none'}). Run that release or a newer one; to go back to this release, ` +
      'restore the backup of the database taken before the upgrade. Nothing was changed.',
  );
}

/**
 * A migration changed after this database applied it is not applied again (nor by Prisma's
 * `migrate deploy`): this database then differs from one migrated from scratch, silently. Said at
 * every migrate, as Prisma's `migrate dev` says it; the checksum is Prisma's (SHA-256 of the file).
 */
function warnOfEditedMigrations(
  history: HistoryRow[],
  migrationsList: MigrationList,
  logger: Logger,
): void {
  for (const directory of migrationsList.migrationDirectories) {
    const content = directory.migrationFile.content;
    if (content.tag !== 'ok') continue;
    const checksum = createHash('sha256').update(content.value).digest('hex');
    const applied = history.filter(
      (row) => row.migration_name === directory.path && row.finished && !row.rolled_back,
    );
    if (applied.length > 0 && applied.every((row) => row.checksum !== checksum))
      logger.warn(
        { migration: directory.path },
        `migration ${directory.path} was changed after this database applied it: the change is ` +
          'not applied here, so this database differs from one migrated from scratch. An applied ' +
          'migration is never edited: put the change in a new one',
      );
  }
}

/**
 * A migration that did not finish, and of which PostgreSQL kept nothing: we send each migration
 * script as one query string, which PostgreSQL runs as one implicit transaction (as Prisma's
 * native engine does), so a script that failed or was cut off left the database as it was.
 *   * Its process died mid-way (Ctrl-C, SIGKILL, a lost connection): the row is started but
 *     neither finished nor failed (no logs).
 *   * It failed with an error (its logs): e.g. a constraint that old data violates.
 * Either way every later migrate (each app's start included) refused the database (P3009) until
 * someone ran `prisma migrate resolve`. It is marked rolled back, as `prisma migrate resolve
 * --rolled-back` does, and applied again: a failed one fails again with its message until its
 * cause is fixed. Called holding MIGRATE_LOCK_KEY, so no other migrate of ours is applying it.
 */
async function releaseUnfinishedMigrations(
  client: pg.Client,
  history: HistoryRow[],
  logger: Logger,
): Promise<void> {
  if (!history.some((row) => !row.finished && !row.rolled_back)) return;
  const { rows } = await client.query<{ migration_name: string; failed: boolean }>(
    `UPDATE _prisma_migrations SET rolled_back_at = now()
     WHERE finished_at IS NULL AND rolled_back_at IS NULL
     RETURNING migration_name, logs IS NOT NULL AS failed`,
  );
  for (const { migration_name: migration, failed } of rows)
    logger.warn(
      { migration },
      failed
        ? `migration ${migration} failed earlier (nothing of it was kept): applying it again`
        : `migration ${migration} was interrupted before it finished (nothing of it was kept): applying it again`,
    );
}

/**
 * The engine's error, as an operator reads it: which migration failed and the database's own
 * message (a migration raises one that names the fix), without the engine's stack. The failed
 * migration is marked rolled back at once (see releaseUnfinishedMigrations), so the release the
 * operator upgraded from is not refused by a failure record it cannot resolve.
 */
async function migrationFailure(client: pg.Client, error: unknown): Promise<unknown> {
  const failed = await client
    .query<{ migration_name: string }>(
      `UPDATE _prisma_migrations SET rolled_back_at = now()
       WHERE finished_at IS NULL AND rolled_back_at IS NULL AND logs IS NOT NULL
       RETURNING migration_name`,
    )
    .then((result) => result.rows.at(0)?.migration_name)
    .catch(() => undefined);
  if (failed === undefined) return error;
  const text = error instanceof Error ? error.message : String(error);
  const cause = /ERROR: (.*)/.exec(text)?.[1] ?? text.split('\n')[0];
  return new MigrationError(
    `migration ${failed} failed: ${cause}. Nothing of it was kept (PostgreSQL ran it as one ` +
      'transaction); the migrations before it stay applied. Fix the cause, then start again ' +
      '(or run pnpm db:migrate): it is applied again.',
  );
}

/**
 * SQL that takes a database from the datamodel `from` (or nothing) to `to`; empty when equal.
 * The diff reads no table, but the engine insists on a live connection to start.
 */
export async function diffDatamodels(
  databaseUrl: string,
  from: SchemaFile | null,
  to: SchemaFile,
): Promise<string> {
  return withSchemaEngine({ databaseUrl, schema: to }, async (engine) => {
    const result = await engine.diff({
      from: from ? { tag: 'schemaDatamodel', files: [from] } : { tag: 'empty' },
      to: { tag: 'schemaDatamodel', files: [to] },
      script: true,
      exitCode: null,
      filters: NO_FILTERS,
    });
    return result.stdout ?? '';
  });
}

const EMPTY_SCRIPT = /^\s*(--[^\n]*\n\s*)*--\s*This is an empty migration\.\s*$/;

export function isEmptyScript(sql: string): boolean {
  return sql.trim() === '' || EMPTY_SCRIPT.test(sql);
}

/** The datamodel as of the newest migration (null before the first). */
export async function latestSnapshot(
  migrationsDir: string = PRISMA_PATHS.migrations,
): Promise<SchemaFile | null> {
  const list = await readMigrationList(migrationsDir);
  const last = list.migrationDirectories.at(-1);
  if (!last) return null;
  const path = join(migrationsDir, last.path, DATAMODEL_SNAPSHOT);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: every migration folder keeps the datamodel it produced.`);
  }
  return { path, content: await readFile(path, 'utf8') };
}

function timestamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/**
 * Writes `prisma/migrations/<timestamp>_<name>/migration.sql` from the difference between the
 * newest migration's datamodel and `schema.prisma`. Returns null when there is nothing to do.
 */
export async function createMigration(
  databaseUrl: string,
  name: string,
  options: { migrationsDir?: string; schemaPath?: string; now?: Date } = {},
): Promise<{ directory: string; sql: string } | null> {
  if (!/^[a-z0-9_]+$/.test(name)) {
    throw new Error(`Migration name "${name}" must be snake_case letters, digits and underscores.`);
  }
  const migrationsDir = options.migrationsDir ?? PRISMA_PATHS.migrations;
  const schema = await readSchemaFile(options.schemaPath);
  const sql = await diffDatamodels(databaseUrl, await latestSnapshot(migrationsDir), schema);
  if (isEmptyScript(sql)) return null;
  const directory = join(migrationsDir, `${timestamp(options.now ?? new Date())}_${name}`);
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'migration.sql'), sql);
  await writeFile(join(directory, DATAMODEL_SNAPSHOT), schema.content);
  const lockPath = join(migrationsDir, PRISMA_PATHS.lockfile);
  if (!existsSync(lockPath)) await writeFile(lockPath, MIGRATION_LOCK_CONTENT);
  return { directory, sql };
}
