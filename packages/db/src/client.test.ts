import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPrismaClient,
  MAX_PREPARED_STATEMENTS,
  poolOf,
  PREPARED,
  readRows,
  type PrismaClient,
} from './client.ts';
import { createApiQueries, type DagSortColumn } from './queries/api/index.ts';
import { isDatabaseUnavailable } from './errors.ts';
import { defaultDatabaseSettings } from './settings.ts';
import { createTestDatabase, type TestDatabase } from './testing/index.ts';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  // One connection: every statement below runs in the same session.
  prisma = createPrismaClient({
    url: db.url,
    settings: { ...defaultDatabaseSettings(), DATABASE_POOL_MAX: 1 },
    applicationName: 'client-test',
  });
});

afterAll(async () => {
  await prisma.$disconnect();
  await db.drop();
});

const prepared = async () =>
  (
    await prisma.$queryRawUnsafe<{ statement: string }[]>(
      'SELECT statement FROM pg_prepared_statements',
    )
  ).map((row) => row.statement);

describe('the Prisma client', () => {
  it('prepares a statement marked PREPARED once per connection, and no other', async () => {
    for (let i = 0; i < 3; i++) {
      await prisma.$queryRawUnsafe(`${PREPARED} SELECT $1::int + 1 AS n`, i);
      await prisma.$queryRawUnsafe('SELECT $1::int + 2 AS n', i);
    }
    expect(await prepared()).toEqual([`${PREPARED} SELECT $1::int + 1 AS n`]);
  });

  it('prepares at most MAX_PREPARED_STATEMENTS statements per connection, however many sort orders GET /dags is asked for', async () => {
    // Before: each distinct order_by of a listing was one more statement prepared on every pooled
    // connection, kept until the connection closed (never, in a busy pool).
    const client = createPrismaClient({
      url: db.url,
      settings: { ...defaultDatabaseSettings(), DATABASE_POOL_MAX: 1 },
      applicationName: 'client-test-bounded',
    });
    try {
      const queries = createApiQueries(client);
      const columns: DagSortColumn[] = ['dag_id', 'last_parsed_time', 'is_paused', 'start_date'];
      let orders = 0;
      for (const first of columns)
        for (const second of columns)
          for (const third of columns)
            for (const descending of [false, true]) {
              await queries.listDags({
                limit: 10,
                offset: 0,
                excludeStale: false,
                orderBy: [
                  { column: first, descending },
                  { column: second, descending: false },
                  { column: third, descending: true },
                ],
              });
              orders++;
            }
      expect(orders).toBeGreaterThan(MAX_PREPARED_STATEMENTS);
      const rows = await client.$queryRawUnsafe<{ count: number }[]>(
        'SELECT count(*)::int AS count FROM pg_prepared_statements',
      );
      expect(rows[0]?.count).toBe(MAX_PREPARED_STATEMENTS);
    } finally {
      await client.$disconnect();
    }
  });

  it("names its pool's host, port and database in the pool's options, where the pg instrumentation reads them", () => {
    // Its spans name the pool host:port/database from these options; from the URL alone they
    // read unknown_host:unknown_port/unknown_database (pool-metrics.test.ts: the metrics' name).
    const url = new URL(db.url);
    const options = poolOf(prisma)!.options as { host?: string; port?: number; database?: string };
    expect(`${options.host}:${options.port}/${options.database}`).toBe(
      `${url.hostname}:${url.port}/${url.pathname.slice(1)}`,
    );
  });

  it('reads rows through its pool as a named statement, and $disconnect ends the pool even when such a read came first', async () => {
    const client = createPrismaClient({
      url: db.url,
      settings: defaultDatabaseSettings(),
      applicationName: 'client-test-read-rows',
    });
    const statement = { name: 'client_test_sum', text: 'SELECT $1::int + $2::int AS n' };
    expect(await readRows<{ n: number }>(client, statement, [2, 3])).toEqual([{ n: 5 }]);
    expect(await readRows<{ n: number }>(client, statement, [4, 3])).toEqual([{ n: 7 }]);
    const pool = poolOf(client)!;
    await client.$disconnect();
    // Without Prisma's adapter connected first, $disconnect left the pool and its connection open.
    expect(pool.ended).toBe(true);
  });

  describe('with one pooled connection held by a transaction for 2.5 s', () => {
    const holdThenQueue = async (connectTimeoutMs: number) => {
      const client = createPrismaClient({
        url: db.url,
        settings: {
          ...defaultDatabaseSettings(),
          DATABASE_POOL_MAX: 1,
          DATABASE_CONNECT_TIMEOUT_MS: connectTimeoutMs,
        },
        applicationName: 'client-test-queue',
      });
      try {
        let held!: () => void;
        const holding = new Promise<void>((resolve) => (held = resolve));
        const first = client.$transaction(async (tx) => {
          await tx.$queryRawUnsafe('SELECT 1');
          held();
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          return 'first';
        });
        await holding;
        const second = client.$transaction(async (tx) => {
          await tx.$queryRawUnsafe('SELECT 2');
          return 'second';
        });
        return await Promise.allSettled([first, second]);
      } finally {
        await client.$disconnect();
      }
    };

    it('a second transaction waits for the connection instead of failing after 2 s', async () => {
      // Prisma's own default gave up after 2 s in the queue (P2028) with the pool still serving.
      const [first, second] = await holdThenQueue(10_000);
      expect(first).toEqual({ status: 'fulfilled', value: 'first' });
      expect(second).toEqual({ status: 'fulfilled', value: 'second' });
    });

    it('a wait longer than DATABASE_CONNECT_TIMEOUT_MS fails as "database unavailable"', async () => {
      const [first, second] = await holdThenQueue(1_000);
      expect(first.status).toBe('fulfilled');
      expect(second.status).toBe('rejected');
      expect(isDatabaseUnavailable((second as PromiseRejectedResult).reason)).toBe(true);
    });
  });
});
