/**
 * Schedulers behind PgBouncer in transaction mode (DATABASE_URL the pooler, DATABASE_DIRECT_URL
 * the database), as README.md documents: the DAG processor's session-level advisory lock must be
 * taken on a connection of its own to the database. Through the pooler it was taken on a server
 * connection PgBouncer then lent to other clients: every scheduler landing there "held" it too
 * (two processors at once), and after the holder stopped it stayed held by that server
 * connection, for nobody.
 */
import { createPrismaClient, defaultDatabaseSettings, type PrismaClient } from '@dagbag/db';
import { startPgBouncer, type PgBouncer } from '@dagbag/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHarness, type Harness } from '../testing/harness.ts';

let h: Harness;
let bouncer: PgBouncer;
let pooled: PrismaClient;

beforeAll(async () => {
  h = await createHarness();
  // One server connection: every client's statements run on it, one transaction at a time.
  bouncer = await startPgBouncer(h.db.url, { poolSize: 1 });
  pooled = createPrismaClient({
    url: bouncer.url,
    applicationName: 'test:scheduler-behind-pgbouncer',
    settings: { ...defaultDatabaseSettings(), DATABASE_PREPARED_STATEMENTS: 'off' },
  });
});

afterAll(async () => {
  await h?.close();
  await pooled?.$disconnect();
  bouncer?.stop();
});

it('behind a pooler in transaction mode, one scheduler at a time processes the DAG files', async () => {
  await h.writeDag({ dag_id: 'pooled', tasks: [{ task_id: 'a', operator: 'empty' }] });
  const viaPooler = { prisma: pooled, databaseUrl: bouncer.url, sessionUrl: h.db.url };
  const first = await h.scheduler(viaPooler);
  const second = await h.scheduler(viaPooler);

  expect((await first.processDagFiles()).processed).toBe(true);
  expect((await second.processDagFiles()).processed).toBe(false);

  await first.stop(0);
  expect((await second.processDagFiles()).processed).toBe(true);
});
