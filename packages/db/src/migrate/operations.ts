/**
 * What `prisma migrate deploy` and `prisma migrate dev --create-only` do, on the WebAssembly
 * engine. The history lands in `_prisma_migrations` exactly as the Prisma CLI keeps it.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '@dagbag/logger';
import { silentLogger } from '@dagbag/logger';
import { NO_FILTERS, withSchemaEngine, type SchemaFile } from './engine.ts';
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
const MIGRATE_LOCK_KEY = 7_270_736_901;

/** Next to each migration: the datamodel it produced, the starting point of the next diff. */
export const DATAMODEL_SNAPSHOT = 'datamodel.snapshot';

export interface MigrateResult {
  applied: string[];
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
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK_KEY]);
    await releaseInterruptedMigrations(lock, logger);
    const output = await withSchemaEngine({ databaseUrl, schema, logger }, (engine) =>
      engine.applyMigrations({ migrationsList, filters: NO_FILTERS }),
    );
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
 * A migration whose process died mid-way (Ctrl-C, SIGKILL, a lost connection) stays in
 * `_prisma_migrations` started but neither finished nor failed (no logs), and every later migrate
 * (each app's start included) refused the database (P3009) until someone ran `prisma migrate
 * resolve`. PostgreSQL ran its script, sent as one query string, as one implicit transaction, so
 * nothing of it was kept: it is marked rolled back, as `prisma migrate resolve --rolled-back`
 * does, and applied again. Called holding MIGRATE_LOCK_KEY, so no other migrate of ours is
 * applying it right now. A migration that failed with an error (its logs) is left as it is.
 */
async function releaseInterruptedMigrations(client: pg.Client, logger: Logger): Promise<void> {
  const { rows } = await client
    .query<{ migration_name: string }>(
      `UPDATE _prisma_migrations SET rolled_back_at = now()
     WHERE finished_at IS NULL AND rolled_back_at IS NULL AND logs IS NULL
     RETURNING migration_name`,
    )
    .catch((error: unknown) => {
      // No history yet: a fresh database.
      if ((error as { code?: string }).code === '42P01') return { rows: [] };
      throw error;
    });
  for (const { migration_name: migration } of rows)
    logger.warn(
      { migration },
      `migration ${migration} was interrupted before it finished (nothing of it was kept): applying it again`,
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
