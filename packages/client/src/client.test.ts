import { readFileSync } from 'node:fs';
import { createPrismaClient, defaultDatabaseSettings } from '@dagbag/db';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import { generateOpenApiTypes } from '@dagbag/openapi-types';
import {
  seedDag,
  seedRun,
  smallDag,
  startTestApi,
  TEST_TOKEN,
  type TestApi,
} from '@dagbag/api/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_FILE } from '../scripts/openapi.ts';
import {
  createDagbagClient,
  DagbagApiError,
  DagbagUnreachableError,
  type DagbagClient,
} from './index.ts';

let db: TestDatabase;
let api: TestApi;
let client: DagbagClient;
let versionId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // The app's own database client, with a short connect timeout so an outage is answered quickly.
  const prisma = createPrismaClient({
    url: db.url,
    applicationName: 'client-test',
    settings: { ...defaultDatabaseSettings(), DATABASE_CONNECT_TIMEOUT_MS: 1000 },
  });
  api = await startTestApi({ db, prisma });
  client = createDagbagClient({
    baseUrl: api.url,
    token: TEST_TOKEN,
    retry: { minDelayMs: 100, maxDelayMs: 300, retries: 10 },
  });
  versionId = (await seedDag(db.prisma, 'etl', [smallDag('etl')]))[0]!;
  await seedRun(db.prisma, {
    dagId: 'etl',
    runId: 'seeded',
    versionId,
    tis: [
      { taskId: 'extract', state: 'failed' },
      { taskId: 'transform', state: 'upstream_failed' },
      { taskId: 'load', state: 'upstream_failed' },
    ],
  });
});

afterAll(async () => {
  await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
  await api.close();
  await api.prisma.$disconnect();
  await db.drop();
});

async function admin(sql: string): Promise<void> {
  const connection = new pg.Client({ connectionString: db.adminUrl });
  await connection.connect();
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}

describe('generated types', () => {
  it('are those of the document the running app serves', async () => {
    const { data: document } = await client.GET('/api/v2/openapi.json');
    const fresh = await generateOpenApiTypes(document!);
    expect(
      readFileSync(SCHEMA_FILE, 'utf8') === fresh,
      'src/schema.ts is stale: run `pnpm client:generate`',
    ).toBe(true);
  });
});

describe('operation families', () => {
  it('reads monitor and version without and with a token', async () => {
    expect((await client.GET('/api/v2/monitor/health')).data?.metadatabase.status).toBe('healthy');
    expect((await client.GET('/api/v2/version')).data?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await client.GET('/api/v2/monitor/dagbag')).data).toBeTypeOf('object');
  });

  it('lists, gets, pauses and unpauses DAGs, their tasks, versions, sources, stats and warnings', async () => {
    const path = { params: { path: { dag_id: 'etl' } } };
    expect((await client.GET('/api/v2/dags')).data?.dags.map((dag) => dag.dag_id)).toEqual(['etl']);
    const paused = await client.PATCH('/api/v2/dags/{dag_id}', {
      ...path,
      body: { is_paused: true },
    });
    expect(paused.data?.is_paused).toBe(true);
    await client.PATCH('/api/v2/dags/{dag_id}', { ...path, body: { is_paused: false } });
    expect((await client.GET('/api/v2/dags/{dag_id}', path)).data?.is_paused).toBe(false);
    expect((await client.GET('/api/v2/dags/{dag_id}/tasks', path)).data?.total_entries).toBe(3);
    const versions = (await client.GET('/api/v2/dags/{dag_id}/dagVersions', path)).data;
    expect(versions?.dag_versions.map((version) => version!.version_number)).toEqual([1]);
    expect((await client.GET('/api/v2/dagSources/{dag_id}', path)).data?.dag_id).toBe('etl');
    expect(
      (await client.GET('/api/v2/dagStats', { params: { query: { dag_ids: ['etl'] } } })).data
        ?.total_entries,
    ).toBe(1);
    expect((await client.GET('/api/v2/dagWarnings')).data?.total_entries).toBe(0);
    expect((await client.GET('/api/v2/importErrors')).data?.total_entries).toBe(0);
  });

  it('triggers a run, reads it, its task instances, tries and log, clears a task and reads the event log', async () => {
    const run = (
      await client.POST('/api/v2/dags/{dag_id}/dagRuns', {
        params: { path: { dag_id: 'etl' } },
        body: { logical_date: null, dag_run_id: 'manual-1', conf: { n: 1 } },
      })
    ).data!;
    expect(run).toMatchObject({ dag_run_id: 'manual-1', state: 'queued', conf: { n: 1 } });
    const seeded = { dag_id: 'etl', dag_run_id: 'seeded' };
    const tis = (
      await client.GET('/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances', {
        params: { path: seeded },
      })
    ).data!;
    expect(tis.task_instances.map((ti) => [ti.task_id, ti.state])).toContainEqual([
      'extract',
      'failed',
    ]);
    const tries = await client.GET(
      '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries',
      { params: { path: { ...seeded, task_id: 'extract' } } },
    );
    expect(tries.data?.total_entries).toBe(1);
    const log = await client.GET(
      '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}',
      { params: { path: { ...seeded, task_id: 'extract', try_number: 1 } } },
    );
    expect(log.data?.content).toEqual([]);
    const cleared = await client.POST('/api/v2/dags/{dag_id}/clearTaskInstances', {
      params: { path: { dag_id: 'etl' } },
      // The document marks the body's defaulted fields required (as it does responses'): all given.
      body: {
        dag_run_id: 'seeded',
        task_ids: ['extract'],
        dry_run: false,
        only_failed: true,
        only_running: false,
        reset_dag_runs: true,
        include_upstream: false,
        include_downstream: false,
        include_future: false,
        include_past: false,
        run_on_latest_version: false,
      },
    });
    expect(cleared.data?.task_instances.map((ti) => ti.task_id)).toEqual(['extract']);
    const events = await client.GET('/api/v2/eventLogs', {
      params: { query: { dag_id: 'etl', event: 'post_clear_task_instances' } },
    });
    expect(events.data?.total_entries).toBe(1);
  });
});

describe('pagination', () => {
  it('iterates all 250 runs of a DAG across pages', async () => {
    const [id] = await seedDag(db.prisma, 'many', [smallDag('many')]);
    const start = Date.parse('2026-01-01T00:00:00Z');
    await db.prisma.dagRun.createMany({
      data: Array.from({ length: 250 }, (_, i) => ({
        dagId: 'many',
        runId: `run-${String(i).padStart(3, '0')}`,
        state: 'success',
        runType: 'scheduled',
        logicalDate: new Date(start + i * 3_600_000),
        runAfter: new Date(start + i * 3_600_000),
        triggeredBy: 'scheduler',
        createdDagVersionId: id!,
      })),
    });
    const ids: string[] = [];
    for await (const run of client.paginate(
      (page) =>
        client.GET('/api/v2/dags/{dag_id}/dagRuns', {
          params: { path: { dag_id: 'many' }, query: { ...page, order_by: ['run_after'] } },
        }),
      'dag_runs',
      100,
    ))
      ids.push(run.dag_run_id);
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    expect(ids[0]).toBe('run-000');
    expect(ids.at(-1)).toBe('run-249');
  });
});

describe('baseUrl', () => {
  it("may end in /api/v2, as the base URL of Airflow's own clients does", async () => {
    for (const baseUrl of [`${api.url}/api/v2`, `${api.url}/api/v2/`]) {
      const withPrefix = createDagbagClient({ baseUrl, token: TEST_TOKEN });
      const { data } = await withPrefix.GET('/api/v2/dags/{dag_id}', {
        params: { path: { dag_id: 'etl' } },
      });
      expect(data!.dag_id).toBe('etl');
    }
  });
});

describe('errors', () => {
  it('throws a typed 404 carrying the detail', async () => {
    const error = await client
      .GET('/api/v2/dags/{dag_id}', { params: { path: { dag_id: 'nope' } } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DagbagApiError);
    expect(error).toMatchObject({ status: 404, detail: expect.stringContaining('nope') });
  });

  it("throws a typed 409 with Airflow's unique-violation detail when a run id is taken", async () => {
    const error = await client
      .POST('/api/v2/dags/{dag_id}/dagRuns', {
        params: { path: { dag_id: 'etl' } },
        body: { logical_date: null, dag_run_id: 'seeded' },
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DagbagApiError);
    expect(error).toMatchObject({
      status: 409,
      detail: { reason: 'Unique constraint violation', message: expect.stringContaining('seeded') },
      message: expect.stringMatching(/: 409 DAG run seeded of DAG etl already exists$/),
    });
  });

  it('throws an unreachable error naming the server when nothing listens', async () => {
    const offline = createDagbagClient({ baseUrl: 'http://127.0.0.1:1', token: TEST_TOKEN });
    await expect(offline.GET('/api/v2/version')).rejects.toBeInstanceOf(DagbagUnreachableError);
  });
});

describe('retries', () => {
  it('retries a GET answered 503 while the database is stopped, until it is back', async () => {
    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    await admin(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}' AND pid <> pg_backend_pid()`,
    );
    const statuses: number[] = [];
    const watched = createDagbagClient({
      baseUrl: api.url,
      token: TEST_TOKEN,
      retry: { minDelayMs: 100, maxDelayMs: 300, retries: 30 },
      fetch: async (request) => {
        const response = await fetch(request);
        statuses.push(response.status);
        if (response.status === 503 && statuses.length === 2)
          await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
        return response;
      },
    });
    const { data } = await watched.GET('/api/v2/dags/{dag_id}', {
      params: { path: { dag_id: 'etl' } },
    });
    expect(data?.dag_id).toBe('etl');
    expect(statuses.slice(0, 2)).toEqual([503, 503]);
    expect(statuses.at(-1)).toBe(200);
  });

  it('does not retry a POST answered 503', async () => {
    await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    await admin(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}' AND pid <> pg_backend_pid()`,
    );
    let calls = 0;
    const counted = createDagbagClient({
      baseUrl: api.url,
      token: TEST_TOKEN,
      retry: { minDelayMs: 10, maxDelayMs: 20 },
      fetch: (request) => {
        calls++;
        return fetch(request);
      },
    });
    try {
      const error = await counted
        .POST('/api/v2/dags/{dag_id}/dagRuns', {
          params: { path: { dag_id: 'etl' } },
          body: { logical_date: null },
        })
        .catch((caught: unknown) => caught);
      expect(error).toMatchObject({ status: 503 });
      expect(calls).toBe(1);
    } finally {
      await admin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    }
  });
});

describe('waitForRun', () => {
  it('follows the streamed states and returns the final one when the run ends', async () => {
    await seedRun(db.prisma, {
      dagId: 'etl',
      runId: 'waited',
      versionId,
      state: 'running',
    });
    const states: string[] = [];
    const waiting = client.waitForRun('etl', 'waited', {
      interval: 0.1,
      onState: (state) => states.push(state),
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    await db.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'etl', runId: 'waited' } },
      data: { state: 'failed' },
    });
    expect(await waiting).toBe('failed');
    expect(states[0]).toBe('running');
    expect(states.at(-1)).toBe('failed');
  });
});
