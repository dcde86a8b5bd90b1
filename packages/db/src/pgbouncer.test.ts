/**
 * Through a real PgBouncer in transaction mode (Debian's `pgbouncer`, which the test command
 * installs): the set-up README.md documents for poolers. Each query may run on another server
 * connection than the one before, so a statement prepared on one "does not exist" on the next, or
 * "already exists" there under the same name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from './client.ts';
import { openDatabase } from './database.ts';
import { listDagsSql } from './queries/api/dags.ts';
import { createDagVersionLoader } from './queries/dag-versions.ts';
import { defaultDatabaseSettings } from './settings.ts';
import {
  createEmptyDatabase,
  createTestDatabase,
  startPgBouncer,
  type PgBouncer,
  type TestDatabase,
} from './testing/index.ts';

let db: TestDatabase;
let bouncer: PgBouncer;
let bouncerUrl: string;
const versionIds: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.dag.create({ data: { dagId: 'pooled' } });
  for (let n = 1; n <= 20; n++) {
    const version = await db.prisma.dagVersion.create({
      data: {
        dagId: 'pooled',
        versionNumber: n,
        serializedDag: {
          create: { dagId: 'pooled', data: { dag_id: 'pooled', tasks: [] }, dagHash: `h${n}` },
        },
      },
    });
    versionIds.push(version.id);
  }
  // Fewer server connections than the client's pool: queries move between them.
  bouncer = await startPgBouncer(db.url, { poolSize: 3 });
  bouncerUrl = bouncer.url;
});

afterAll(async () => {
  bouncer?.stop();
  await db?.drop();
});

/** A client through PgBouncer with a pool larger than PgBouncer's own. */
function pooledClient(prepared: 'on' | 'off'): PrismaClient {
  return createPrismaClient({
    url: bouncerUrl,
    applicationName: 'pgbouncer-test',
    settings: {
      ...defaultDatabaseSettings(),
      DATABASE_POOL_MAX: 8,
      DATABASE_PREPARED_STATEMENTS: prepared,
    },
  });
}

/** Concurrent DAG cache misses and `GET /dags` pages; the messages of those that failed. */
async function hotReads(prisma: PrismaClient): Promise<string[]> {
  const loader = createDagVersionLoader(prisma);
  const failures: string[] = [];
  const attempt = (read: () => Promise<unknown>) =>
    read().catch((error: unknown) => failures.push(String((error as Error).message)));
  await Promise.all(
    Array.from({ length: 40 }, (_, i) => [
      attempt(() => loader.loadVersions([versionIds[i % versionIds.length]!])),
      attempt(() =>
        loader.loadVersionsByNumber([{ dagId: 'pooled', versionNumber: 1 + (i % 20) }]),
      ),
      attempt(() =>
        prisma.$queryRaw(
          // GET /dags?limit=50 (its defaults: exclude_stale, by dag_id).
          listDagsSql({
            limit: 50,
            offset: 0,
            excludeStale: true,
            orderBy: [{ column: 'dag_id', descending: false }],
          }),
        ),
      ),
    ]).flat(),
  );
  return failures;
}

describe('behind PgBouncer in transaction mode', () => {
  it('serves DAG cache misses and GET /dags pages with DATABASE_PREPARED_STATEMENTS=off', async () => {
    const prisma = pooledClient('off');
    try {
      expect(await hotReads(prisma)).toEqual([]);
      const rows = await createDagVersionLoader(prisma).loadVersions(versionIds.slice(0, 3));
      expect(rows.map((row) => row.versionNumber).sort()).toEqual([1, 2, 3]);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('migrates over DATABASE_DIRECT_URL, not through the pooler', async () => {
    // A migration holds session-level advisory locks (Prisma's engine and ours): through a pooler
    // in transaction mode the unlock may run on another server connection, and the lock stayed
    // held on the first one (seen: Prisma's key 72707369 held after every app had stopped).
    const direct = await createEmptyDatabase();
    try {
      const opened = await openDatabase({
        settings: {
          DATABASE_URL: bouncerUrl,
          DATABASE_DIRECT_URL: direct.url,
          EMBEDDED_POSTGRES_PORT: 54329,
        },
        dataDir: bouncer.workDir,
      });
      expect([opened.url, opened.migrationUrl]).toEqual([bouncerUrl, direct.url]);
      const client = createPrismaClient({
        url: direct.url,
        applicationName: 'pgbouncer-test-direct',
        settings: defaultDatabaseSettings(),
      });
      try {
        const rows = await client.$queryRawUnsafe<{ applied: number }[]>(
          'SELECT count(*)::int AS applied FROM _prisma_migrations',
        );
        expect(rows[0]!.applied).toBeGreaterThan(0);
      } finally {
        await client.$disconnect();
      }
    } finally {
      await direct.drop();
    }
  });
});
