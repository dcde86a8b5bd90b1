/**
 * The database settings reach the API's pool: the real process (src/main.ts), real HTTP, real
 * PostgreSQL, its connections told apart by their application_name in pg_stat_activity.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TsxChild } from '@dagbag/config/testing/spawn-tsx';
import {
  createTestDatabase,
  lockTable,
  watchConnections,
  type TestDatabase,
} from '@dagbag/db/testing';
import { startApiProcess } from './testing/api-process.ts';
import { seedDag, smallDag } from './testing/harness.ts';

const TOKEN = 'database-settings-test-token';
let db: TestDatabase;
let dataDirectory: string;
const children: TsxChild[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dataDirectory = await mkdtemp(join(tmpdir(), 'dagbag-api-db-settings-'));
  for (let i = 0; i < 5; i++) await seedDag(db.prisma, `dag_${i}`, [smallDag(`dag_${i}`)]);
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null) child.process.kill('SIGTERM');
    await child.exited;
  }
});

afterAll(async () => {
  await db.drop();
  await rm(dataDirectory, { recursive: true, force: true });
});

/** Starts src/main.ts against the test database; resolves with its URL once it listens. */
async function startApi(env: Record<string, string>): Promise<string> {
  const api = await startApiProcess({
    DATABASE_URL: db.url,
    DATA_DIR: dataDirectory,
    API_AUTH_TOKENS: TOKEN,
    ...env,
  });
  children.push(api.child);
  return api.url;
}

function get(url: string, path: string): Promise<Response> {
  return fetch(`${url}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(20_000),
  });
}

describe('the API process and its database settings', () => {
  it('opens at most DATABASE_POOL_MAX=2 connections under 60 concurrent requests', async () => {
    const url = await startApi({ DATABASE_POOL_MAX: '2' });
    const watch = await watchConnections({
      adminUrl: db.adminUrl,
      database: db.name,
      applicationName: 'dagbag-api',
    });
    try {
      const paths = ['/api/v2/dags', '/api/v2/dags/dag_1', '/api/v2/dags/dag_2/dagRuns'];
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, i) => get(url, paths[i % paths.length]!)),
      );
      expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
      await watch.sample();
      // The load used the whole pool, and not one connection more.
      expect(watch.max).toBe(2);
    } finally {
      await watch.stop();
    }
  }, 60_000);

  it('has a statement running longer than DATABASE_STATEMENT_TIMEOUT_MS cancelled (503)', async () => {
    const url = await startApi({ DATABASE_STATEMENT_TIMEOUT_MS: '300' });
    // A statement that waits on a lock runs until the lock is released or it is cancelled.
    const lock = await lockTable(db.url, 'dag');
    try {
      const started = Date.now();
      const response = await get(url, '/api/v2/dags');
      const elapsed = Date.now() - started;
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ detail: expect.any(String) });
      // Cancelled by the server after 300 ms, not held for the default 30 s.
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      await lock.release();
    }
  }, 60_000);
});
