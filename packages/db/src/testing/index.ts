/**
 * Test helpers: a freshly migrated database of its own for each test file, on the embedded server
 * started by `global-setup.ts` (add it to the package's vitest config as `globalSetup`).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPrismaClient, type PrismaClient } from '../client.ts';
import { defaultDatabaseSettings } from '../settings.ts';
import './provided.ts';

export interface TestDatabase {
  name: string;
  url: string;
  /** URL of the server's maintenance database (create more databases, watch connections). */
  adminUrl: string;
  prisma: PrismaClient;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Clones the migrated template: an empty, fully migrated database in a few milliseconds. */
export async function createTestDatabase(
  options: { template?: string } = {},
): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const template = options.template ?? inject('pgTemplate');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const prisma = createPrismaClient({
    url,
    settings: defaultDatabaseSettings(),
    applicationName: `test:${name}`,
  });
  return {
    name,
    url,
    adminUrl,
    prisma,
    async drop() {
      await prisma.$disconnect();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** An empty database without migrations (for migration tests). */
export async function createEmptyDatabase(): Promise<{
  url: string;
  adminUrl: string;
  drop: () => Promise<void>;
}> {
  const adminUrl = inject('pgAdminUrl');
  const name = `empty_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
  return {
    url: withDatabase(adminUrl, name),
    adminUrl,
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client
        .query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        .finally(() => client.end());
    },
  };
}

export interface ConnectionWatch {
  /** The most connections seen at once so far. */
  readonly max: number;
  /** Samples once more now and returns the count. */
  sample(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Samples `pg_stat_activity` every `everyMs` for the connections one application (its
 * `application_name`) holds to one database, keeping the maximum: what a pool setting must bound.
 */
export async function watchConnections(options: {
  adminUrl: string;
  database: string;
  applicationName: string;
  everyMs?: number;
}): Promise<ConnectionWatch> {
  const client = new pg.Client({ connectionString: options.adminUrl });
  await client.connect();
  let max = 0;
  const sample = async () => {
    const { rows } = await client.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
      [options.database, options.applicationName],
    );
    const count = rows[0]?.count ?? 0;
    max = Math.max(max, count);
    return count;
  };
  let sampling: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(sample).catch(() => undefined);
  }, options.everyMs ?? 20);
  return {
    get max() {
      return max;
    },
    sample() {
      const next = sampling.then(sample);
      sampling = next.catch(() => undefined);
      return next;
    },
    async stop() {
      clearInterval(timer);
      await sampling.catch(() => undefined);
      await client.end();
    },
  };
}

/**
 * Holds an ACCESS EXCLUSIVE lock on `table` in an open transaction until `release()`: every
 * statement touching the table waits meanwhile, until released or cancelled (a statement timeout).
 */
export async function lockTable(url: string, table: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`LOCK TABLE ${pg.escapeIdentifier(table)} IN ACCESS EXCLUSIVE MODE`);
  } catch (error) {
    await client.end();
    throw error;
  }
  return {
    async release() {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end();
    },
  };
}

export { createRecordingPrismaClient, type RecordingClient } from './statements.ts';
export { migrationsUpTo } from './migrations.ts';
export { embeddedServerRunningIn, stopEmbeddedServerIn } from './leftover-server.ts';
export { startPgBouncer, type PgBouncer } from './pgbouncer.ts';
