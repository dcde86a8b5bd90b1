import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../testing/index.ts';
import { checkSchemaDrift } from './drift.ts';
import { PRISMA_PATHS, readMigrationList } from './files.ts';
import { createMigration, diffDatamodels, isEmptyScript, migrateDatabase } from './operations.ts';

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
