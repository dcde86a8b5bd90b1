/**
 * Through a real PgBouncer in transaction mode (Debian's `pgbouncer`, which the test command
 * installs): the set-up README.md documents for poolers. Each query may run on another server
 * connection than the one before, so a statement prepared on one "does not exist" on the next, or
 * "already exists" there under the same name.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@dagbag/config/testing/free-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from './client.ts';
import { openDatabase } from './database.ts';
import { listDagsSql } from './queries/api/dags.ts';
import { createDagVersionLoader } from './queries/dag-versions.ts';
import { defaultDatabaseSettings } from './settings.ts';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from './testing/index.ts';

let db: TestDatabase;
let bouncer: ChildProcess;
let bouncerUrl: string;
let workDir: string;
const versionIds: string[] = [];

function pgbouncerBinary(): string {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next
    }
  }
  throw new Error(
    'pgbouncer is not installed: the test command installs it as root on Debian/Ubuntu ' +
      '(apt-get install pgbouncer)',
  );
}

async function listening(url: string, deadline: number): Promise<void> {
  for (;;) {
    const probe = createPrismaClient({
      url,
      applicationName: 'pgbouncer-probe',
      settings: { ...defaultDatabaseSettings(), DATABASE_PREPARED_STATEMENTS: 'off' },
    });
    try {
      await probe.$queryRawUnsafe('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await probe.$disconnect().catch(() => undefined);
    }
  }
}

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
  const server = new URL(db.url);
  const port = await freePort();
  workDir = mkdtempSync(join(tmpdir(), 'dagbag-pgbouncer-'));
  // PgBouncer refuses to run as root; as `nobody` it must be able to write its log here.
  chmodSync(workDir, 0o777);
  const ini = join(workDir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port} user=${decodeURIComponent(server.username)} password=${decodeURIComponent(server.password)}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      'pool_mode = transaction',
      // Fewer server connections than the client's pool: queries move between them.
      'default_pool_size = 3',
      // The client sends the statement timeout at start-up; PgBouncer cannot pass it on.
      'ignore_startup_parameters = extra_float_digits,statement_timeout',
      `logfile = ${join(workDir, 'pgbouncer.log')}`,
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  bouncer = spawn(pgbouncerBinary(), [...(asRoot ? ['-u', 'nobody'] : []), ini], {
    stdio: 'ignore',
  });
  bouncerUrl = `postgresql://pooled:unused@127.0.0.1:${port}${server.pathname}`;
  await listening(bouncerUrl, Date.now() + 10_000);
});

afterAll(async () => {
  bouncer?.kill();
  await db?.drop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
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
        dataDir: workDir,
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
