import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_STATUS_BY_CODE, toApiError } from './errors.ts';
import { taskLogPath } from '@dagbag/dagbag';
import {
  seedDag,
  seedRun,
  smallDag,
  startTestApi,
  TEST_TOKEN,
  type TestApi,
} from './testing/harness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  const versions = await seedDag(api.prisma, 'etl', [smallDag('etl')]);
  await seedRun(api.prisma, {
    dagId: 'etl',
    runId: 'r1',
    versionId: versions[0]!,
    tis: [{ taskId: 'extract', state: 'success', tryNumber: 1 }],
  });
  // A file outside the log tree that traversal attempts would aim at.
  writeFileSync(join(api.logsDir, '..', 'secret.log'), 'do not serve\n');
  mkdirSync(join(api.logsDir, 'etl', 'r1', 'extract'), { recursive: true });
  writeFileSync(
    join(api.logsDir, 'etl', 'r1', 'extract', '1.log'),
    Array.from({ length: 5 }, (_, i) => `line ${i}`).join('\n') + '\n',
  );
});

afterAll(() => api.close());

/** fetch normalizes `%2e%2e` segments away; node:http sends the path exactly as written. */
function rawGetStatus(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port: api.server.port,
        path,
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('error answers', () => {
  it('404 for an unknown path, as JSON with a detail', async () => {
    const response = await api.request('/api/v2/nowhere');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ detail: 'Not Found' });
  });

  it('405 with Allow for a known path and an unsupported method', async () => {
    const response = await api.request('/api/v2/dags/etl/details', { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
  });

  it("404 with Airflow's wording for an unknown DAG", async () => {
    expect(await (await api.request('/api/v2/dags/ghost')).json()).toEqual({
      detail: 'The DAG with dag_id: `ghost` was not found',
    });
  });

  it('404 for an unknown task instance', async () => {
    expect((await api.request('/api/v2/dags/etl/dagRuns/r1/taskInstances/ghost')).status).toBe(404);
  });

  it('413 for a body over the limit', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { logical_date: null, conf: { blob: 'x'.repeat(100_000) } },
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ detail: 'Request body is larger than the limit' });
  });

  it("422 with FastAPI's json_invalid for malformed JSON", async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      body: '{"logical_date": nul',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(422);
    const body: any = await response.json();
    expect(body.detail[0]).toMatchObject({ loc: ['body'], type: 'json_invalid' });
  });

  it('422 naming the body when none was sent', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns/r1/clear', { method: 'POST' });
    expect(response.status).toBe(422);
    expect(await response.json()).toEqual({
      detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }],
    });
  });

  it('422 naming each bad query parameter', async () => {
    const response = await api.request('/api/v2/dags?limit=-1&offset=x&paused=maybe');
    expect(response.status).toBe(422);
    const body: any = await response.json();
    expect(body.detail.map((issue: { loc: string[] }) => issue.loc)).toEqual([
      ['query', 'limit'],
      ['query', 'offset'],
      ['query', 'paused'],
    ]);
  });

  it('422 for a non-integer version_number in the path', async () => {
    const body: any = await (await api.request('/api/v2/dags/etl/dagVersions/one')).json();
    expect(body.detail[0].loc).toEqual(['path', 'version_number']);
  });

  it("400 naming the key for an order_by column that does not exist, as Airflow's SortParam", async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns?order_by=password');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(
      /^Ordering with 'password' is disallowed or the attribute does not exist on the model/,
    );
  });

  it('422 before 400: a parameter that does not validate outranks an unknown order_by key', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns?order_by=password&limit=x');
    expect(response.status).toBe(422);
    const body = (await response.json()) as { detail: { loc: string[] }[] };
    expect(body.detail.map((issue) => issue.loc)).toEqual([['query', 'limit']]);
  });

  it('422 for a NUL character in a path, query or body value, which PostgreSQL text cannot hold', async () => {
    expect((await api.request('/api/v2/dags/a%00b')).status).toBe(422);
    expect((await api.request('/api/v2/dags?dag_id_pattern=%00')).status).toBe(422);
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { logical_date: null, conf: { 'k\u0000': 1 } },
    });
    expect(response.status).toBe(422);
  });

  it('500 naming the version and the problem for a stored document that does not validate', async () => {
    // A row written by something else than the processor (or edited by hand): the answer said
    // only 'Internal server error', leaving the client nothing to report.
    const [versionId] = await seedDag(api.prisma, 'garbled', [smallDag('garbled')]);
    await api.prisma.serializedDag.updateMany({
      where: { dagVersionId: versionId! },
      data: { data: { dag_id: 'garbled', tasks: 'not a list' }, dagHash: 'e'.repeat(64) },
    });
    const response = await api.request('/api/v2/dags/garbled/dagVersions/1/structure');
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({
      detail:
        "Version 1 of DAG 'garbled' is stored in a form this server cannot read (tasks: tasks must be a list of tasks, not a string); the DAG file's next change makes a new version",
    });
  });

  it('422 for unknown fields in a body, as Airflow forbids extra fields', async () => {
    expect(
      (
        await api.request('/api/v2/dags/etl/dagRuns', {
          method: 'POST',
          json: { logical_date: null, surprise: 1 },
        })
      ).status,
    ).toBe(422);
  });
});

describe('request ids', () => {
  it('echo a well-formed X-Request-Id so that a caller can follow its request through the logs', async () => {
    const response = await api.request('/api/v2/version', {
      headers: { 'x-request-id': 'client-chosen.id-42' },
    });
    expect(response.headers.get('x-request-id')).toBe('client-chosen.id-42');
  });

  it('replace a malformed X-Request-Id with a generated one', async () => {
    const response = await api.request('/api/v2/version', {
      headers: { 'x-request-id': 'spaces and\ttabs' },
    });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('are set on error answers too', async () => {
    const response = await api.request('/api/v2/dags', { token: null });
    expect(response.status).toBe(401);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('task logs', () => {
  it("serve a finished try's lines with no continuation token once the log is read", async () => {
    const first: any = await (
      await api.request('/api/v2/dags/etl/dagRuns/r1/taskInstances/extract/logs/1')
    ).json();
    expect(first.content).toHaveLength(5);
    expect(first.continuation_token).toBeNull();
  });

  it.each(['..%2F..%2Fsecret', '%2e%2e', 'etl%2F..%2F..'])(
    'refuse a dag_id that could leave the log folder (%s)',
    async (dagId) => {
      const response = await api.request(
        `/api/v2/dags/${dagId}/dagRuns/r1/taskInstances/extract/logs/1`,
      );
      expect([400, 404]).toContain(response.status);
      expect(JSON.stringify(await response.json())).not.toContain('do not serve');
    },
  );

  it('refuse a run or task id that could leave the log folder, sent verbatim (no client-side normalization)', async () => {
    expect(await rawGetStatus('/api/v2/dags/etl/dagRuns/%2e%2e/taskInstances/extract/logs/1')).toBe(
      400,
    );
    expect(
      await rawGetStatus('/api/v2/dags/etl/dagRuns/r1/taskInstances/..%5C..%5Csecret/logs/1'),
    ).toBe(400);
    expect(
      await rawGetStatus('/api/v2/dags/%2e%2e/dagRuns/%2e%2e/taskInstances/secret/logs/1'),
    ).toBe(400);
  });

  it("an id the log path rule refuses is the client's error (400 naming the field)", () => {
    let refused: unknown;
    try {
      taskLogPath('/logs', { dagId: '..', runId: 'r', taskId: 't', tryNumber: 1 });
    } catch (error) {
      refused = error;
    }
    expect(toApiError(refused)).toMatchObject({ status: 400, message: /dag_id/ });
  });

  it('404 for a try that has not happened', async () => {
    expect(
      (await api.request('/api/v2/dags/etl/dagRuns/r1/taskInstances/extract/logs/7')).status,
    ).toBe(404);
  });

  it('422 for a forged continuation token', async () => {
    expect(
      (await api.request('/api/v2/dags/etl/dagRuns/r1/taskInstances/extract/logs/1?token=bm9wZQ'))
        .status,
    ).toBe(422);
  });
});

describe('the error table', () => {
  it('maps every code to a 4xx or 5xx status', () => {
    for (const status of Object.values(HTTP_STATUS_BY_CODE))
      expect(status).toBeGreaterThanOrEqual(400);
  });

  it('turns an unknown error into a 500 whose body hides the cause', () => {
    const error = toApiError(new Error('secret stack detail'));
    expect(error.status).toBe(500);
    expect(error.body()).toEqual({ detail: 'Internal server error' });
  });
});
