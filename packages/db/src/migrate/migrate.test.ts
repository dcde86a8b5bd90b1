import { createHash } from 'node:crypto';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '@dagbag/logger/testing';
import { createEmptyDatabase, migrationsUpTo } from '../testing/index.ts';
import { checkSchemaDrift } from './drift.ts';
import { PRISMA_PATHS, readMigrationList } from './files.ts';
import {
  MIGRATE_LOCK_KEY,
  MigrationError,
  createMigration,
  diffDatamodels,
  isEmptyScript,
  migrateDatabase,
} from './operations.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((drop) => drop()));
});

async function emptyDatabase() {
  const db = await createEmptyDatabase();
  cleanups.push(db.drop);
  return db;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  it('two migrate runs at once both succeed, one applies, and each migration is recorded once', async () => {
    const db = await emptyDatabase();
    const results = await Promise.all([migrateDatabase(db.url), migrateDatabase(db.url)]);
    const migrationCount = (await readMigrationList()).migrationDirectories.length;
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, migrationCount]);
    const rows = await query<{ migration_name: string; finished_at: Date | null }>(
      db.url,
      'SELECT migration_name, finished_at FROM _prisma_migrations',
    );
    expect(rows).toHaveLength(migrationCount);
    expect(rows.every((row) => row.finished_at !== null)).toBe(true);
  });

  it('applies again a migration whose process died before it finished, instead of refusing', async () => {
    const db = await emptyDatabase();
    const workDir = await mkdtemp(join(tmpdir(), 'dagbag-migrations-'));
    const migrationsDir = join(workDir, 'migrations');
    await cp(PRISMA_PATHS.migrations, migrationsDir, { recursive: true });
    const { migrationDirectories } = await readMigrationList(migrationsDir);
    const last = migrationDirectories.at(-1)!.path;
    await rm(join(migrationsDir, last), { recursive: true });
    await migrateDatabase(db.url, { migrationsDir });
    // What a Ctrl-C during the last migration left (seen with pnpm db:migrate): its row started,
    // neither finished nor failed, and none of its script kept (one implicit transaction).
    const script = await readFile(join(PRISMA_PATHS.migrations, last, 'migration.sql'));
    await query(
      db.url,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES (gen_random_uuid()::text, '${createHash('sha256').update(script).digest('hex')}', '${last}', now(), 0)`,
    );

    // Before: P3009, "migrate found failed migrations in the target database", at every start.
    const { applied } = await migrateDatabase(db.url);

    expect(applied).toEqual([last]);
    const rows = await query<{ finished: boolean; rolled_back: boolean }>(
      db.url,
      `SELECT finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back
       FROM _prisma_migrations WHERE migration_name = '${last}' ORDER BY started_at`,
    );
    expect(rows).toEqual([
      { finished: false, rolled_back: true },
      { finished: true, rolled_back: false },
    ]);
  });

  it('a migration that failed on old data says why, keeps nothing, and is applied again once the data is fixed', async () => {
    const db = await emptyDatabase();
    const before = await migrationsUpTo('20261201154600_api_operations');
    cleanups.push(before.remove);
    await migrateDatabase(db.url, { migrationsDir: before.migrationsDir });
    // Two runs of one DAG for one logical date, which releases before task_instance_history let
    // the API trigger; that migration adds (dag_id, logical_date) UNIQUE and refuses them.
    await query(
      db.url,
      `INSERT INTO dag (dag_id) VALUES ('d');
       INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date) VALUES
         ('d', 'first', 'success', 'manual', '2026-11-30T00:00:00Z'),
         ('d', 'second', 'success', 'manual', '2026-11-30T00:00:00Z')`,
    );

    const failure = await migrateDatabase(db.url).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(MigrationError);
    const message = (failure as Error).message;
    expect(message).toMatch(
      /^migration 20261201154700_task_instance_history failed: DAG d has several runs for logical_date .* \(first, second\)/,
    );
    expect(message).not.toMatch(/wasm|schema-engine/);
    const kept = await query<{ history: string | null }>(
      db.url,
      "SELECT to_regclass('task_instance_history')::text AS history",
    );
    expect(kept).toEqual([{ history: null }]);
    // Before: every later migrate refused the database with P3009 ("migrate found failed
    // migrations"), whatever the data, until someone ran `prisma migrate resolve`.
    await expect(migrateDatabase(db.url)).rejects.toThrow(/task_instance_history failed: DAG d/);
    await query(db.url, "DELETE FROM dag_run WHERE run_id = 'second'");

    const { applied } = await migrateDatabase(db.url);

    expect(applied[0]).toBe('20261201154700_task_instance_history');
    const runs = await query<{ run_id: string }>(db.url, 'SELECT run_id FROM dag_run');
    expect(runs).toEqual([{ run_id: 'first' }]);
  });

  it('refuses a database a newer release migrated, naming its migrations, and changes nothing', async () => {
    const db = await emptyDatabase();
    const workDir = await mkdtemp(join(tmpdir(), 'dagbag-migrations-'));
    cleanups.push(() => rm(workDir, { recursive: true, force: true }));
    const newer = join(workDir, 'migrations');
    await cp(PRISMA_PATHS.migrations, newer, { recursive: true });
    await cp(
      join(PRISMA_PATHS.migrations, '20261121053204_dag_run_current_version'),
      join(newer, '20991231000000_from_the_future'),
      { recursive: true },
    );
    await writeFile(
      join(newer, '20991231000000_from_the_future', 'migration.sql'),
      'ALTER TABLE "job" ADD COLUMN "future" TEXT;',
    );
    await migrateDatabase(db.url, { migrationsDir: newer });
    const history = () =>
      query<{ migration_name: string }>(
        db.url,
        'SELECT migration_name FROM _prisma_migrations ORDER BY started_at',
      );
    const recorded = await history();

    // Before: this release started on it (and would have written rows the newer one misreads).
    await expect(migrateDatabase(db.url)).rejects.toThrow(
      /migrated by a newer release of dagbag: it has 1 migration\(s\) this release does not know \(20991231000000_from_the_future;.*restore the backup/,
    );
    expect(await history()).toEqual(recorded);
  });

  it('says it waits while another process applies migrations, then finds nothing to do', async () => {
    const db = await emptyDatabase();
    await migrateDatabase(db.url);
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    cleanups.push(() => other.end());
    await other.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK_KEY]);
    const { logger, lines } = recordingLogger();

    const migrating = migrateDatabase(db.url, { logger });
    await vi.waitFor(() => expect(lines.map((line) => line.msg)).toHaveLength(1), {
      timeout: 20_000,
    });
    await other.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY]);

    expect((await migrating).applied).toEqual([]);
    expect(lines.map((line) => line.msg)).toEqual([
      'another process is applying migrations to this database: waiting for it to finish',
    ]);
  });

  it('every migration can run as one transaction, which a failed or cut-off one relies on', async () => {
    // Nothing of a migration that failed is kept only if PostgreSQL ran its script as one
    // implicit transaction: no statement may end it or refuse to run inside one.
    const outside = /\b(COMMIT|ROLLBACK|START\s+TRANSACTION|CONCURRENTLY|VACUUM)\b|^\s*BEGIN\s*;/im;
    const { migrationDirectories } = await readMigrationList();
    const offending = migrationDirectories.filter((directory) => {
      const content = directory.migrationFile.content;
      const script = content.tag === 'ok' ? content.value.replace(/--[^\n]*/g, '') : '';
      return outside.test(script);
    });
    expect(offending.map((directory) => directory.path)).toEqual([]);
  });

  it('warns when a migration this database applied has been changed since', async () => {
    const db = await emptyDatabase();
    const copy = await migrationsUpTo(
      (await readMigrationList()).migrationDirectories.at(-1)!.path,
    );
    cleanups.push(copy.remove);
    await migrateDatabase(db.url, { migrationsDir: copy.migrationsDir });
    await appendFile(
      join(copy.migrationsDir, '20261201162025_dag_timezone', 'migration.sql'),
      'ALTER TABLE "dag" ADD COLUMN "edited" TEXT;\n',
    );
    const { logger, lines } = recordingLogger();

    const { applied } = await migrateDatabase(db.url, {
      migrationsDir: copy.migrationsDir,
      logger,
    });

    // Before: nothing said, nothing applied; a fresh database would have had the column.
    expect(applied).toEqual([]);
    expect(lines).toMatchObject([
      {
        level: 40,
        migration: '20261201162025_dag_timezone',
        msg: expect.stringMatching(/was changed after this database applied it/),
      },
    ]);
  });

  it('creates the Airflow tables under their snake_case names', async () => {
    const db = await emptyDatabase();
    await migrateDatabase(db.url);
    const tables = await query<{ table_name: string }>(
      db.url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining([
        'dag',
        'dag_run',
        'dag_version',
        'import_error',
        'job',
        'serialized_dag',
        'task_instance',
      ]),
    );
  });

  it('schema.prisma and the migration history agree (else: run pnpm db:migration <name>)', async () => {
    const [migrated, fromSchema] = await Promise.all([emptyDatabase(), emptyDatabase()]);
    const report = await checkSchemaDrift(migrated.url, fromSchema.url);
    expect(
      report,
      'schema.prisma differs from prisma/migrations: run `pnpm db:migration <name>` and commit the new migration',
    ).toMatchObject({ pendingSql: '', onlyInMigrations: [], onlyInSchema: [], inSync: true });
  });

  it('a schema change without a migration is reported with the SQL it needs', async () => {
    const db = await emptyDatabase();
    const schema = {
      path: PRISMA_PATHS.schema,
      content: await readFile(PRISMA_PATHS.schema, 'utf8'),
    };
    const changed = {
      ...schema,
      content: schema.content.replace('model Job {', 'model Job {\n  note String?'),
    };
    const sql = await diffDatamodels(db.url, schema, changed);
    expect(isEmptyScript(sql)).toBe(false);
    expect(sql).toContain('ALTER TABLE "job" ADD COLUMN     "note" TEXT');
  });

  it('creates the next migration from the newest snapshot and applies it', async () => {
    const db = await emptyDatabase();
    const workDir = await mkdtemp(join(tmpdir(), 'dagbag-migrations-'));
    const migrationsDir = join(workDir, 'migrations');
    await cp(PRISMA_PATHS.migrations, migrationsDir, { recursive: true });
    const schemaPath = join(workDir, 'schema.prisma');
    const original = await readFile(PRISMA_PATHS.schema, 'utf8');
    await writeFile(schemaPath, original);
    expect(await createMigration(db.url, 'nothing', { migrationsDir, schemaPath })).toBeNull();
    await writeFile(schemaPath, original.replace('model Job {', 'model Job {\n  note String?'));
    const created = await createMigration(db.url, 'job_note', {
      migrationsDir,
      schemaPath,
      now: new Date('2099-01-01T00:00:00Z'),
    });
    expect(created?.directory).toMatch(/20990101000000_job_note$/);
    const { applied } = await migrateDatabase(db.url, { migrationsDir });
    expect(applied.at(-1)).toBe('20990101000000_job_note');
    const columns = await query<{ column_name: string }>(
      db.url,
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'job' AND column_name = 'note'",
    );
    expect(columns).toHaveLength(1);
  });

  it('refuses a migration name that is not snake_case', async () => {
    await expect(createMigration('postgresql://x', 'Bad Name')).rejects.toThrow(/snake_case/);
  });
});
