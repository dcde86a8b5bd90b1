import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, PREPARED, type PrismaClient } from './client.ts';
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
});
