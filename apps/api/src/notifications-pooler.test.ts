/**
 * The API behind PgBouncer in transaction mode, as README.md documents it: DATABASE_URL the pooler,
 * DATABASE_DIRECT_URL the database. Its notification listener must connect to the direct URL:
 * through the pooler LISTEN stays on a server connection the listener is not attached to, nothing
 * arrives, and the API gives up its listing cache and its cache's prompt invalidation.
 */
import type { TsxChild } from '@dagbag/config/testing/spawn-tsx';
import {
  createTestDatabase,
  startPgBouncer,
  type PgBouncer,
  type TestDatabase,
} from '@dagbag/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiProcess } from './testing/api-process.ts';

let db: TestDatabase;
let bouncer: PgBouncer;
let api: TsxChild | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  bouncer = await startPgBouncer(db.url, { poolSize: 2 });
});

afterAll(async () => {
  if (api && api.process.exitCode === null) {
    api.process.kill('SIGTERM');
    await api.exited;
  }
  bouncer?.stop();
  await db?.drop();
});

/** `dagbag_db_notifications_total` of `channel` on the API's /metrics (0 before the first). */
async function received(metricsUrl: string, channel: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('dagbag_db_notifications_total{') && l.includes(`"${channel}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

it('behind a pooler, the API listens over DATABASE_DIRECT_URL and receives notifications', async () => {
  const started = await startApiProcess({
    DATABASE_URL: bouncer.url,
    DATABASE_DIRECT_URL: db.url,
    DATABASE_PREPARED_STATEMENTS: 'off',
    DATABASE_NOTIFICATIONS: 'on',
    API_AUTH_TOKENS: 'test-token-0123456789abcdef',
  });
  api = started.child;
  const metricsUrl = started.metricsUrl;
  const sender = new pg.Client({ connectionString: db.url });
  await sender.connect();
  try {
    // A notification as the database's triggers send it, until the API has counted one.
    const deadline = Date.now() + 45_000;
    let count = 0;
    while (count === 0 && Date.now() < deadline) {
      expect(api.process.exitCode, api.output()).toBeNull();
      await sender.query(`SELECT pg_notify('dagbag_listing', $1)`, [`${Date.now() * 1000},probe`]);
      await new Promise((resolve) => setTimeout(resolve, 250));
      count = await received(metricsUrl, 'dagbag_listing').catch(() => 0);
    }
    expect(count, api.output()).toBeGreaterThan(0);
    expect(api.output()).not.toContain('database notifications do not arrive');
  } finally {
    await sender.end();
  }
}, 90_000);
