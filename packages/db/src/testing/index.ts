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
  drop(): Promise<void>;
}> {
  const adminUrl = inject('pgAdminUrl');
  const name = `empty_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
  return {
    url: withDatabase(adminUrl, name),
    adminUrl,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client
        .query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        .finally(() => client.end());
    },
  };
}
