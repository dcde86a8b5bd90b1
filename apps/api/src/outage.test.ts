import { Writable } from 'node:stream';
import pg from 'pg';
import { createLogger } from '@dagbag/logger';
import { createPrismaClient, defaultDatabaseSettings } from '@dagbag/db';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airflowSchemaErrors } from './testing/airflow-schemas.ts';
import { seedDag, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let db: TestDatabase;
let api: TestApi;
/** What the API logged (JSON lines). */
const logLines: string[] = [];

/** Runs SQL on the server's maintenance database (never on the one being cut off). */
async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function cutOff(): Promise<void> {
  await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
  await admin(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}' AND pid <> pg_backend_pid()`,
  );
}

async function restore(): Promise<void> {
  await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  await seedDag(db.prisma, 'etl', [smallDag('etl')]);
  // The app's own client, with a short connect timeout so an outage is answered quickly.
  const prisma = createPrismaClient({
    url: db.url,
    applicationName: 'api-outage-test',
    settings: { ...defaultDatabaseSettings(), DATABASE_CONNECT_TIMEOUT_MS: 1000 },
  });
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  api = await startTestApi({ db, prisma, logger: createLogger({ name: 'api', destination }) });
});

afterAll(async () => {
  await restore();
  await api.close();
  await api.prisma.$disconnect();
  await db.drop();
});

describe('a lost database', () => {
  it('is answered with 503 and a detail, then the server recovers by itself when the database returns', async () => {
    expect((await api.request('/api/v2/dags')).status).toBe(200);

    await cutOff();
    for (const path of [
      '/api/v2/dags',
      '/api/v2/dags/etl',
      '/api/v2/dags/etl/dagVersions/1/structure',
    ]) {
      const response = await api.request(path);
      const body = await response.json();
      expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(503);
      expect(body).toEqual({
        detail: 'The metadata database is unreachable or busy; try again shortly',
      });
      expect(airflowSchemaErrors('HTTPExceptionResponse', body)).toEqual([]);
      expect(response.headers.get('retry-after')).toBe('5');
    }
    const health: any = await (await api.request('/api/v2/monitor/health', { token: null })).json();
    expect(health.metadatabase.status).toBe('unhealthy');

    await restore();
    const response = await api.request('/api/v2/dags');
    expect(response.status).toBe(200);
    expect(((await response.json()) as { total_entries: number }).total_entries).toBe(1);
    const recovered: any = await (
      await api.request('/api/v2/monitor/health', { token: null })
    ).json();
    expect(recovered.metadatabase.status).toBe('healthy');
  });

  it('logs each 503 in one line, the request line, naming the cause without a stack trace', async () => {
    await cutOff();
    try {
      const ids = ['outage-1', 'outage-2', 'outage-3'];
      for (const id of ids)
        expect(
          (await api.request('/api/v2/dags', { headers: { 'x-request-id': id } })).status,
        ).toBe(503);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the logger's buffer: 100 ms
      for (const id of ids) {
        const lines = logLines.filter((line) => line.includes(`"${id}"`));
        expect(lines).toHaveLength(1);
        const line = JSON.parse(lines[0]!) as { level: number; msg: string; err: object };
        expect({ level: line.level, msg: line.msg }).toEqual({ level: 40, msg: 'request errored' });
        // The cut terminates the pool's idle connections: a request meets one before the pool has
        // noticed (57P01), or opens a new one and is refused (55000). Either is named, on one line.
        expect(line.err).toMatchObject({
          message: expect.stringMatching(
            /not currently accepting connections|terminating connection due to administrator command/,
          ),
          code: expect.stringMatching(/^(55000|57P01)$/),
        });
        expect(lines[0]).not.toMatch(/\\n\s+at /); // no stack frame
        expect(lines[0]).not.toContain('prisma');
      }
    } finally {
      await restore();
    }
  });

  it('still serves the structure of a version the cache holds, without the database', async () => {
    expect((await api.request('/api/v2/dags/etl/dagVersions/1/structure')).status).toBe(200);
    await cutOff();
    try {
      const response = await api.request('/api/v2/dags/etl/dagVersions/1/structure');
      expect(response.status).toBe(200);
      expect(((await response.json()) as { nodes: unknown[] }).nodes).toHaveLength(3);
      expect((await api.request('/api/v2/monitor/dagbag')).status).toBe(200);
      // What needs the database still answers 503.
      expect((await api.request('/api/v2/dags/etl/dagVersions/1')).status).toBe(503);
    } finally {
      await restore();
    }
  });
});
