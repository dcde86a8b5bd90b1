/**
 * Scenario 5: security. Static bearer tokens from API_AUTH_TOKENS (there is no expiry: an "expired"
 * token is one removed from API_AUTH_TOKENS, and a restart without it must refuse it); every route
 * but health and version (open in Airflow 3 too) refuses missing, wrong and malformed tokens; no
 * token appears in any process's log;
 * task logs cannot be read outside their folder; the API listens on 127.0.0.1 unless told
 * otherwise.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  client,
  freePort,
  listeningAddresses,
  scenarioEnv,
  scenarioFolder,
  startApi,
  startScheduler,
  stopChild,
  tearDownScenario,
  tokensInLogs,
  waitFor,
  type ApiChild,
} from './cluster.ts';
import { recordResult } from './results.ts';
import { runsOf } from './workload.ts';

const KEPT = `rel-kept-${randomBytes(12).toString('hex')}`;
const REMOVED = `rel-removed-${randomBytes(12).toString('hex')}`;
const WRONG = `rel-wrong-${randomBytes(12).toString('hex')}`;
const SECRET = `TOPSECRET-${randomBytes(8).toString('hex')}`;

let db: TestDatabase;
let workDir: string;
let env: Record<string, string>;
let api: ApiChild;
let metricsPort: number;
/** Every documented operation; `open` when the document asks no token for it (health, version). */
let routes: { method: string; path: string; open: boolean }[] = [];
const tried = { requests: 0 };

beforeAll(async () => {
  db = await createTestDatabase();
  const folder = await scenarioFolder('security');
  const { dagsFolder } = folder;
  workDir = folder.workDir;
  await writeFile(
    join(dagsFolder, 'logged.json'),
    JSON.stringify({
      dag_id: 'logged',
      tasks: [{ task_id: 'say', operator: 'bash', bash_command: 'echo hello from the task' }],
    }),
  );
  // Files a traversal would reach: beside and above the logs folder.
  for (const path of ['1.log', 'logs/1.log', 'logs/logged/1.log', 'logs/logged/r1/1.log']) {
    await mkdir(join(workDir, path, '..'), { recursive: true });
    await writeFile(join(workDir, path), `${SECRET}\n`);
  }
  metricsPort = await freePort();
  env = scenarioEnv(db.url, folder, { API_AUTH_TOKENS: `${KEPT},${REMOVED}` });
  await startScheduler('scheduler-1', env);
  api = await startApi('api-1', { ...env, METRICS_PORT: String(metricsPort) });
  const request = client(api.url, KEPT);
  await waitFor(
    'the DAG is parsed',
    async () => (await request('/api/v2/dags/logged')).status === 200,
    60_000,
  );
  expect(
    (
      await request('/api/v2/dags/logged/dagRuns', {
        method: 'POST',
        json: { dag_run_id: 'r1', logical_date: null },
      })
    ).status,
  ).toBe(200);
  await waitFor(
    'the run ends',
    async () => (await runsOf(db.url, 'logged')).some((run) => run.state === 'success'),
    30_000,
  );
  const spec = (await request('/api/v2/openapi.json')).body as unknown as {
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  routes = Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      open: operation.security?.length === 0,
      path: path.replace(/\{[a-z_]+\}/g, (name) =>
        name === '{try_number}' || name === '{version_number}'
          ? '1'
          : name === '{dag_id}'
            ? 'logged'
            : name === '{dag_run_id}'
              ? 'r1'
              : 'say',
      ),
    })),
  );
}, 120_000);

afterAll(() =>
  tearDownScenario({
    releaseDatabase: () => db?.drop(),
    workDir,
    then: () => {
      recordResult('5-security', {
        order: 5,
        scenario: '5 security',
        load: '1 scheduler + 1 API (restarted once, + 1 on another loopback address)',
        faults: 'missing, wrong, malformed and removed tokens; path traversal in log ids',
        inputs: `${tried.requests} unauthorised or traversal requests over ${routes.length} routes`,
        lost: 0,
        duplicated: 0,
        figures: `every protected route refused each bad credential with 401; token strings found in logs: ${tokensInLogs([KEPT, REMOVED, WRONG]).length}`,
      });
    },
  }),
);

/** A raw request with exactly this Authorization header (or none). */
function send(
  method: string,
  path: string,
  authorization: string | undefined,
  port = api.port,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    const body = method === 'GET' || method === 'DELETE' ? undefined : '{}';
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': '2' });
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers, agent: false, timeout: 10_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const BAD_CREDENTIALS: [string, string | undefined][] = [
  ['no Authorization header', undefined],
  ['a wrong token', `Bearer ${WRONG}`],
  ['an empty bearer', 'Bearer '],
  ['the bare word Bearer', 'Bearer'],
  ['the token without a scheme', KEPT],
  ['the token under the Basic scheme', `Basic ${Buffer.from(`user:${KEPT}`).toString('base64')}`],
  ['the token under a Token scheme', `Token ${KEPT}`],
  ['the token with a suffix', `Bearer ${KEPT}x`],
  ['a prefix of the token', `Bearer ${KEPT.slice(0, -1)}`],
  ['the token followed by a second word', `Bearer ${KEPT} ${KEPT}`],
  ['two tokens joined by a comma', `Bearer ${WRONG},${KEPT}`],
];

describe('security: bearer tokens', () => {
  it.each(BAD_CREDENTIALS)(
    'refuses %s on every route but the open ones (health, version) with 401 and a detail',
    async (_what, authorization) => {
      const protectedRoutes = routes.filter((route) => !route.open);
      const refused = await Promise.all(
        protectedRoutes.map(async (route) => {
          const response = await send(route.method, route.path, authorization);
          tried.requests++;
          return {
            route: `${route.method} ${route.path}`,
            status: response.status,
            detail: typeof (JSON.parse(response.text || '{}') as { detail?: unknown }).detail,
          };
        }),
      );
      expect(refused.filter((r) => r.status !== 401 || r.detail !== 'string')).toEqual([]);
    },
  );

  it('covers every documented route, the OpenAPI document included', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
  });

  it('answers health and version, and only those, without a token', async () => {
    expect(
      routes
        .filter((route) => route.open)
        .map((route) => route.path)
        .sort(),
    ).toEqual(['/api/v2/monitor/health', '/api/v2/version']);
    expect((await send('GET', '/api/v2/monitor/health', undefined)).status).toBe(200);
    expect((await send('GET', '/api/v2/version', undefined)).status).toBe(200);
  });

  it('accepts each configured token', async () => {
    const statuses = await Promise.all(
      [KEPT, REMOVED].map(
        async (token) => (await send('GET', '/api/v2/dags', `Bearer ${token}`)).status,
      ),
    );
    expect(statuses).toEqual([200, 200]);
  });

  it('refuses a token removed from API_AUTH_TOKENS after a restart, and still accepts the kept one', async () => {
    await stopChild(api);
    api = await startApi(
      'api-1-restarted',
      { ...env, API_AUTH_TOKENS: KEPT, METRICS_PORT: String(metricsPort) },
      { port: api.port },
    );
    const statuses = await Promise.all(
      [REMOVED, KEPT].map(
        async (token) => (await send('GET', '/api/v2/dags', `Bearer ${token}`)).status,
      ),
    );
    expect(statuses).toEqual([401, 200]);
  });
});

describe('security: task logs stay in their folder', () => {
  it('serves a task log through its ids', async () => {
    const response = await send(
      'GET',
      '/api/v2/dags/logged/dagRuns/r1/taskInstances/say/logs/1?full_content=true',
      `Bearer ${KEPT}`,
    );
    expect({
      status: response.status,
      hasLine: response.text.includes('hello from the task'),
    }).toEqual({ status: 200, hasLine: true });
  });

  const TRAVERSALS = [
    ['dag_id', '/api/v2/dags/..%2F..%2F..%2Fetc/dagRuns/r1/taskInstances/say/logs/1'],
    ['dag_id', '/api/v2/dags/%2e%2e/dagRuns/r1/taskInstances/say/logs/1'],
    ['dag_run_id', '/api/v2/dags/logged/dagRuns/..%2F..%2F/taskInstances/say/logs/1'],
    ['dag_run_id', '/api/v2/dags/logged/dagRuns/..%5C..%5C/taskInstances/say/logs/1'],
    ['dag_run_id', '/api/v2/dags/logged/dagRuns/%2e%2e/taskInstances/..%2F..%2F..%2F/logs/1'],
    ['task_id', '/api/v2/dags/logged/dagRuns/r1/taskInstances/..%2F..%2F..%2F/logs/1'],
    ['task_id', '/api/v2/dags/logged/dagRuns/r1/taskInstances/..%2F..%2F..%2F..%2F1.log%00/logs/1'],
    ['task_id', '/api/v2/dags/logged/dagRuns/r1/taskInstances/%2Fetc%2Fpasswd/logs/1'],
    ['try_number', '/api/v2/dags/logged/dagRuns/r1/taskInstances/say/logs/..%2F..%2F..%2F..%2F1'],
    ['try_number', '/api/v2/dags/logged/dagRuns/r1/taskInstances/say/logs/1.log'],
    ['try_number', '/api/v2/dags/logged/dagRuns/r1/taskInstances/say/logs/-1'],
    ['try_number', '/api/v2/dags/logged/dagRuns/r1/taskInstances/say/logs/%2e%2e'],
    ['unencoded path', '/api/v2/dags/logged/dagRuns/r1/taskInstances/say/logs/../../../../../1'],
  ] as const;

  it.each(TRAVERSALS)('refuses a traversal through %s (%s)', async (_id, path) => {
    const response = await send('GET', `${path}?full_content=true`, `Bearer ${KEPT}`);
    tried.requests++;
    expect({
      status: [400, 404, 422].includes(response.status),
      leaked: response.text.includes(SECRET),
    }).toEqual({ status: true, leaked: false });
  });
});

describe('security: listening addresses and logs', () => {
  it('listens on 127.0.0.1 only when API_HOST is unset', () => {
    expect(listeningAddresses(api.port)).toEqual(['127.0.0.1']);
  });

  it('serves metrics on 127.0.0.1 only when METRICS_HOST is unset', () => {
    expect(listeningAddresses(metricsPort)).toEqual(['127.0.0.1']);
  });

  it('listens where API_HOST says when told otherwise', async () => {
    const other = await startApi(
      'api-2-other-host',
      { ...env, API_HOST: '127.0.0.2' },
      { host: '127.0.0.2' },
    );
    const addresses = listeningAddresses(other.port);
    await stopChild(other);
    expect(addresses).toEqual(['127.0.0.2']);
  });

  it('prints no token, right or wrong, in the log of any process', () => {
    expect(tokensInLogs([KEPT, REMOVED, WRONG])).toEqual([]);
  });
});
