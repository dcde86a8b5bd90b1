/**
 * Does the migration history produce what schema.prisma describes? Prisma's own answer
 * (`migrate diff --from-migrations`) needs introspection, which the pg adapter cannot do here
 * (it fails on PostgreSQL's internal "char" type), so we build both databases for real and compare
 * their catalogs: tables, columns, types, nullability, defaults, indexes and constraints.
 */
import pg from 'pg';
import { readSchemaFile } from './files.ts';
import { diffDatamodels, isEmptyScript, latestSnapshot, migrateDatabase } from './operations.ts';

/**
 * Indexes a Prisma datamodel cannot express (an ordering with NULLS LAST), written by hand in their
 * migration like the notification triggers: not compared. Each is named in its migration's text.
 */
export const HAND_WRITTEN_INDEXES = ['task_instance_start_date_desc_idx'] as const;

const CATALOG_QUERIES = {
  columns: `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
                   character_maximum_length, numeric_precision, datetime_precision
            FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
            ORDER BY table_name, column_name`,
  indexes: `SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
              AND indexname NOT IN (${HAND_WRITTEN_INDEXES.map((name) => `'${name}'`).join(', ')})
            ORDER BY tablename, indexname`,
  // Constraint triggers (contype 't', the notification triggers) are hand-written SQL a Prisma
  // datamodel cannot express, like functions: not compared.
  constraints: `SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition
                FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype <> 't'
                  AND conrelid::regclass::text <> '_prisma_migrations' ORDER BY 1, 2`,
} as const;

export type Catalog = Record<keyof typeof CATALOG_QUERIES, string[]>;

export async function readCatalog(databaseUrl: string): Promise<Catalog> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const catalog = {} as Catalog;
    for (const [key, sql] of Object.entries(CATALOG_QUERIES) as [keyof Catalog, string][]) {
      const { rows } = await client.query(sql);
      catalog[key] = rows.map((row) => JSON.stringify(row));
    }
    return catalog;
  } finally {
    await client.end();
  }
}

export interface DriftReport {
  /** SQL the newest migration's datamodel is missing to reach schema.prisma (empty: none). */
  pendingSql: string;
  /** Catalog rows present only in the database built from migrations / from schema.prisma. */
  onlyInMigrations: string[];
  onlyInSchema: string[];
  inSync: boolean;
}

/**
 * `migratedUrl` and `fromSchemaUrl` are two empty databases; the first gets the migration history,
 * the second the schema applied from scratch.
 */
export async function checkSchemaDrift(
  migratedUrl: string,
  fromSchemaUrl: string,
): Promise<DriftReport> {
  const schema = await readSchemaFile();
  const pendingSql = await diffDatamodels(fromSchemaUrl, await latestSnapshot(), schema);
  await migrateDatabase(migratedUrl);
  const fullSql = await diffDatamodels(fromSchemaUrl, null, schema);
  const client = new pg.Client({ connectionString: fromSchemaUrl });
  await client.connect();
  await client.query(fullSql).finally(() => client.end());
  const [migrated, fromSchema] = await Promise.all([
    readCatalog(migratedUrl),
    readCatalog(fromSchemaUrl),
  ]);
  const onlyInMigrations: string[] = [];
  const onlyInSchema: string[] = [];
  for (const key of Object.keys(CATALOG_QUERIES) as (keyof Catalog)[]) {
    const a = new Set(migrated[key]);
    const b = new Set(fromSchema[key]);
    onlyInMigrations.push(...[...a].filter((row) => !b.has(row)));
    onlyInSchema.push(...[...b].filter((row) => !a.has(row)));
  }
  const pending = isEmptyScript(pendingSql) ? '' : pendingSql;
  return {
    pendingSql: pending,
    onlyInMigrations,
    onlyInSchema,
    inSync: pending === '' && onlyInMigrations.length === 0 && onlyInSchema.length === 0,
  };
}
