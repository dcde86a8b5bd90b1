/**
 * Input handling over real HTTP (issue 16): each test pins one bug that a hostile review found,
 * against a real API on a real PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { silentLogger } from '@dagbag/logger';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLogPage } from './logs.ts';
import { startServer } from './server.ts';
import {
  seedDag,
  seedRun,
  smallDag,
  startTestApi,
  TEST_TOKEN,
  type TestApi,
} from './testing/harness.ts';

let api: TestApi;
let versionId: string;
const originalTz = process.env.TZ;

beforeAll(async () => {
  // A server zone other than UTC, where reading a naive timestamp as local time shows.
  process.env.TZ = 'America/New_York';
  api = await startTestApi();
  [versionId] = (await seedDag(api.prisma, 'etl', [smallDag('etl')])) as [string];
});

afterAll(async () => {
  await api.close();
  process.env.TZ = originalTz;
});

const trigger = (body: unknown, dagId = 'etl') =>
  api.request(`/api/v2/dags/${dagId}/dagRuns`, { method: 'POST', json: body });

/** `{"a":{"a":...{}}}` nested `levels` objects deep. */
function nested(levels: number): string {
  return '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);
}

/** Sends raw bytes with the given headers (fetch would not send a GET body or a broken gzip). */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port: api.server.port,
        method,
        path,
        agent: false,
        headers: {
          authorization: `Bearer ${TEST_TOKEN}`,
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
          ...headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: response.headers,
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function listingsStatuses(): Promise<number[]> {
  return Promise.all(
    [
      '/api/v2/dags/etl/dagRuns',
      '/api/v2/dags/~/dagRuns',
      '/api/v2/dags/~/dagRuns?state=queued',
    ].map(async (path) => (await api.request(path)).status),
  );
}

describe('1. conf depth: a deep conf is refused at the door and never breaks listings', () => {
  it('answers 422 to a conf nested 4,400 objects deep and stores no run', async () => {
    const body = `{"dag_run_id":"deep_conf","logical_date":null,"conf":${nested(4400)}}`;
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      { 'content-type': 'application/json' },
      body,
    );
    expect(response.status).toBe(422);
    expect(JSON.parse(response.text).detail[0]).toMatchObject({
      loc: ['body'],
      type: 'json_too_deep',
    });
    expect(await api.prisma.dagRun.count({ where: { runId: 'deep_conf' } })).toBe(0);
    expect(await listingsStatuses()).toEqual([200, 200, 200]);
  });

  it('accepts a conf as deep as the limit allows, and every listing still answers 200', async () => {
    // The body object is level 1, so conf may nest 31 levels under the default limit of 32.
    const body = `{"dag_run_id":"deepest_allowed","logical_date":null,"conf":${nested(31)}}`;
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      { 'content-type': 'application/json' },
      body,
    );
    expect(response.status).toBe(200);
    expect(await listingsStatuses()).toEqual([200, 200, 200]);
    expect((await api.request('/api/v2/dags/etl/dagRuns/deepest_allowed')).status).toBe(200);
  });
});

describe('3. continuation_token', () => {
  it("is null at the end of a finished try's log, so a reader stops", async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'log_done',
      versionId,
      tis: [{ taskId: 'extract', state: 'success' }],
    });
    mkdirSync(join(api.logsDir, 'etl', 'log_done', 'extract'), { recursive: true });
    writeFileSync(join(api.logsDir, 'etl', 'log_done', 'extract', '1.log'), 'a\nb\n');
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns/log_done/taskInstances/extract/logs/1')
    ).json();
    expect(body).toEqual({ content: [{ event: 'a' }, { event: 'b' }], continuation_token: null });
  });

  it('is kept while the try is running, and reads on from where the last page ended', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'log_running',
      versionId,
      tis: [{ taskId: 'extract', state: 'running' }],
    });
    const file = join(api.logsDir, 'etl', 'log_running', 'extract', '1.log');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'first\n');
    const path = '/api/v2/dags/etl/dagRuns/log_running/taskInstances/extract/logs/1';
    const first: any = await (await api.request(path)).json();
    expect(first.continuation_token).toEqual(expect.any(String));
    writeFileSync(file, 'first\nsecond\n');
    const next: any = await (await api.request(`${path}?token=${first.continuation_token}`)).json();
    expect(next.content).toEqual([{ event: 'second' }]);
  });

  it('is kept while the try is queued, since its first line comes before it is running', async () => {
    // The executor opens the log and writes the command line, then marks the try running.
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'log_queued',
      versionId,
      tis: [{ taskId: 'extract', state: 'queued', tryNumber: 1 }],
    });
    const file = join(api.logsDir, 'etl', 'log_queued', 'extract', '1.log');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'try 1 of etl/log_queued/extract\n');
    const path = '/api/v2/dags/etl/dagRuns/log_queued/taskInstances/extract/logs/1';
    const first: any = await (await api.request(path)).json();
    expect(first.content).toEqual([{ event: 'try 1 of etl/log_queued/extract' }]);
    expect(first.continuation_token).toEqual(expect.any(String));
  });
});

describe('4. run ids are validated at the door', () => {
  it.each([['has/slash'], ['..'], ['with space'], ['😀'.repeat(125)], [''], ['x'.repeat(251)]])(
    'answers 400 naming the rule to the run id %j',
    async (runId) => {
      const response = await trigger({ dag_run_id: runId, logical_date: null });
      expect(response.status).toBe(400);
      expect(((await response.json()) as any).detail).toMatch(/run_id/);
      expect(await api.prisma.dagRun.count({ where: { runId } })).toBe(0);
    },
  );

  it('accepts every character of the pattern, up to 250 of them', async () => {
    const runId = `Az09_.~:+-${'x'.repeat(240)}`;
    expect((await trigger({ dag_run_id: runId, logical_date: null })).status).toBe(200);
  });

  it('answers a log read of a stored run id too long for a file name with 200, never 500', async () => {
    const runId = '😀'.repeat(125); // 250 UTF-16 units but 500 bytes: no file system takes it
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId,
      versionId,
      tis: [{ taskId: 'extract', state: 'failed' }],
    });
    const response = await api.request(
      `/api/v2/dags/etl/dagRuns/${encodeURIComponent(runId)}/taskInstances/extract/logs/1`,
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ content: [], continuation_token: null });
  });
});

describe('5. trigger of a DAG that cannot run', () => {
  it('answers 404 for a stale DAG (its file is gone)', async () => {
    await seedDag(api.prisma, 'gone', [smallDag('gone')]);
    await api.prisma.dag.update({ where: { dagId: 'gone' }, data: { isStale: true } });
    const response = await trigger({ logical_date: null }, 'gone');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ detail: "DAG with dag_id: 'gone' not found" });
  });

  it('answers 400 for a DAG whose file has import errors', async () => {
    await seedDag(api.prisma, 'broken', [smallDag('broken')], { fileloc: '/dags/broken.json' });
    await api.prisma.importError.create({
      data: { filename: '/dags/broken.json', stackTrace: 'bad JSON' },
    });
    const response = await trigger({ logical_date: null }, 'broken');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      detail: "DAG with dag_id: 'broken' has import errors and cannot be triggered",
    });
    expect(await api.prisma.dagRun.count({ where: { dagId: 'broken' } })).toBe(0);
  });
});

describe('6. timestamps without a zone', () => {
  it('answers 422 to a naive logical_date in a body, rather than reading it in the server zone', async () => {
    const response = await trigger({ dag_run_id: 'naive', logical_date: '2026-03-05T00:00:00' });
    expect(response.status).toBe(422);
    expect(((await response.json()) as any).detail[0]).toMatchObject({
      loc: ['body', 'logical_date'],
      msg: expect.stringContaining('timezone'),
    });
  });

  it("reads a trigger's naive run_after as UTC, as Airflow (a plain datetime there), not as 422", async () => {
    const response = await trigger({
      dag_run_id: 'naive_run_after',
      logical_date: null,
      run_after: '2026-03-07T10:30:00',
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).run_after).toBe('2026-03-07T10:30:00.000Z');
  });

  it('answers 422 to a naive data interval in a trigger, as Airflow (AwareDatetime there)', async () => {
    const response = await trigger({
      logical_date: '2026-03-05T00:00:00Z',
      data_interval_start: '2026-03-04T00:00:00',
      data_interval_end: '2026-03-05T00:00:00Z',
    });
    expect(response.status).toBe(422);
    expect(((await response.json()) as any).detail[0].loc).toEqual(['body', 'data_interval_start']);
  });

  it('answers 422 to a naive bound in a batch listing body, as Airflow (AwareDatetime there)', async () => {
    const response = await api.request('/api/v2/dags/~/dagRuns/list', {
      method: 'POST',
      json: { run_after_gte: '2026-03-05T00:00:00' },
    });
    expect(response.status).toBe(422);
    expect(((await response.json()) as any).detail[0].loc).toEqual(['body', 'run_after_gte']);
  });

  it('reads a naive query timestamp as UTC', async () => {
    expect(
      (
        await trigger({
          dag_run_id: 'at_midnight_utc',
          logical_date: '2026-03-05T00:00:00Z',
          run_after: '2026-03-05T00:00:00Z',
        })
      ).status,
    ).toBe(200);
    const body: any = await (
      await api.request(
        '/api/v2/dags/etl/dagRuns?logical_date_gte=2026-03-05T00:00:00&logical_date_lte=2026-03-05T00:00:00',
      )
    ).json();
    expect(body.dag_runs.map((run: any) => run.dag_run_id)).toEqual(['at_midnight_utc']);
  });

  it('reads a date alone in the query as its midnight UTC, as Airflow accepts it', async () => {
    // Refused with 422 'Invalid ISO datetime' before.
    const page = async (query: string) => {
      const response = await api.request(`/api/v2/dags/etl/dagRuns?${query}`);
      expect(response.status, query).toBe(200);
      return ((await response.json()) as any).dag_runs.map((run: any) => run.dag_run_id);
    };
    expect(await page('logical_date_gte=2026-03-05&logical_date_lte=2026-03-05')).toEqual([
      'at_midnight_utc',
    ]);
    expect(await page('logical_date_gt=2026-03-05&logical_date_lt=2026-03-06')).toEqual([]);
    expect((await api.request('/api/v2/dags/etl/dagRuns?logical_date_gte=2026-13-05')).status).toBe(
      422,
    );
  });
});

describe('7. PATCH with update_mask', () => {
  it('changes only fields both in the mask and in the body', async () => {
    await trigger({ dag_run_id: 'masked', logical_date: null, note: 'keep me' });
    const path = '/api/v2/dags/etl/dagRuns/masked';
    const noteMask = await api.request(`${path}?update_mask=note`, {
      method: 'PATCH',
      json: { state: 'failed' },
    });
    expect(noteMask.status).toBe(200);
    expect(await noteMask.json()).toMatchObject({ note: 'keep me', state: 'queued' });
    const stateMask = await api.request(`${path}?update_mask=state`, {
      method: 'PATCH',
      json: { note: 'x' },
    });
    expect(stateMask.status).toBe(200);
    expect(await stateMask.json()).toMatchObject({ note: 'keep me', state: 'queued' });
  });
});

describe('8. compressed bodies', () => {
  it.each(['gzip', 'br', 'deflate'])(
    'answers 400 to a body whose Content-Encoding %s it does not have',
    async (encoding) => {
      const response = await rawRequest(
        'POST',
        '/api/v2/dags/etl/dagRuns/masked/clear',
        { 'content-type': 'application/json', 'content-encoding': encoding },
        '{}',
      );
      expect(response.status).toBe(400);
      expect(JSON.parse(response.text).detail).toMatch(/Content-Encoding/);
    },
  );

  it('reads a well-formed gzip body', async () => {
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      gzipSync(JSON.stringify({ dag_run_id: 'zipped', logical_date: null })),
    );
    expect(response.status).toBe(200);
  });
});

describe('9. DAG versions', () => {
  it('are listed in version order by default, even with random (UUIDv4) ids', async () => {
    await seedDag(
      api.prisma,
      'many_versions',
      Array.from({ length: 10 }, (_, index) =>
        smallDag('many_versions', { description: `v${index + 1}` }),
      ),
    );
    const body: any = await (await api.request('/api/v2/dags/many_versions/dagVersions')).json();
    expect(body.dag_versions.map((version: any) => version.version_number)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });
});

describe('10. order_by', () => {
  it('refuses more than 10 keys, as Airflow, naming the limit', async () => {
    // Accepted before: each key one more ORDER BY column, however many were sent.
    const keys = (n: number) => Array.from({ length: n }, () => 'order_by=dag_id').join('&');
    expect((await api.request(`/api/v2/dags?${keys(10)}`)).status).toBe(200);
    const response = await api.request(`/api/v2/dags?${keys(11)}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toContain(
      'Ordering with more than 10 parameters is not allowed',
    );
  });
});

describe('11. integers in the query and path', () => {
  it.each([
    ['/api/v2/dags/etl/dagRuns?limit=', 'limit'],
    ['/api/v2/dags/etl/dagRuns?limit=%20', 'limit'],
    ['/api/v2/dags/etl/dagRuns?offset=0x10', 'offset'],
    ['/api/v2/dags/etl/dagRuns?limit=1e3', 'limit'],
    ['/api/v2/dags/etl/dagRuns?offset=99999999999', 'offset'],
    ['/api/v2/dags/etl/dagRuns/log_done/taskInstances/extract/logs/1?map_index=', 'map_index'],
    ['/api/v2/dags/etl/dagRuns/log_done/wait?interval=0x10', 'interval'],
    ['/api/v2/dags/etl/dagRuns/log_done/wait?interval=%20', 'interval'],
  ])('answer 422 for %s', async (path, name) => {
    const response = await api.request(path);
    expect(response.status).toBe(422);
    expect(((await response.json()) as any).detail[0].loc).toEqual(['query', name]);
  });
});

describe('12. conf and run ids are kept exactly or refused', () => {
  it('keeps a top-level __proto__ key of conf', async () => {
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      { 'content-type': 'application/json' },
      '{"dag_run_id":"proto","logical_date":null,"conf":{"__proto__":{"x":1},"y":2}}',
    );
    expect(response.status).toBe(200);
    const stored = await rawRequest('GET', '/api/v2/dags/etl/dagRuns/proto', {});
    const { conf } = JSON.parse(stored.text);
    expect(Object.keys(conf).sort()).toEqual(['__proto__', 'y']);
    expect(Object.getOwnPropertyDescriptor(conf, '__proto__')?.value).toEqual({ x: 1 });
  });

  it.each(['12345678901234567890', '1e400', '1e-400', '0.1000000000000000000001'])(
    'answers 422 to the number %s, which a 64-bit float cannot hold exactly',
    async (literal) => {
      const response = await rawRequest(
        'POST',
        '/api/v2/dags/etl/dagRuns',
        { 'content-type': 'application/json' },
        `{"dag_run_id":"n_${randomUUID().slice(0, 8)}","logical_date":null,"conf":{"n":${literal}}}`,
      );
      expect(response.status).toBe(422);
      expect(JSON.parse(response.text).detail[0].type).toBe('number_inexact');
    },
  );

  it('keeps numbers a float holds exactly, however written', async () => {
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      { 'content-type': 'application/json' },
      '{"dag_run_id":"exact","logical_date":null,"conf":{"a":9007199254740992,"b":1.50,"c":-0.25e2,"d":1E2}}',
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text).conf).toEqual({
      a: 9007199254740992,
      b: 1.5,
      c: -25,
      d: 100,
    });
  });

  it('answers 422 to a lone surrogate in a run id or conf, which would be stored as U+FFFD', async () => {
    for (const body of [
      '{"dag_run_id":"a\\ud800b","logical_date":null}',
      '{"dag_run_id":"lone","logical_date":null,"conf":{"k":"\\udc00"}}',
    ]) {
      const response = await rawRequest(
        'POST',
        '/api/v2/dags/etl/dagRuns',
        { 'content-type': 'application/json' },
        body,
      );
      expect(response.status).toBe(422);
      expect(JSON.parse(response.text).detail[0].type).toBe('string_unicode');
    }
  });
});

describe('13. long log lines', () => {
  it('serves a line longer than a page whole, with no character cut in two', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'long_line',
      versionId,
      tis: [{ taskId: 'extract', state: 'success' }],
    });
    const long = 'é'.repeat(700_000) + '€'; // 1.4 MB of multi-byte characters on one line
    const file = join(api.logsDir, 'etl', 'long_line', 'extract', '1.log');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, `${long}\nnext\n`);
    const path = '/api/v2/dags/etl/dagRuns/long_line/taskInstances/extract/logs/1';
    const first: any = await (await api.request(path)).json();
    expect(first.content.map((line: any) => line.event)).toEqual([long]);
    const next: any = await (await api.request(`${path}?token=${first.continuation_token}`)).json();
    expect(next).toEqual({ content: [{ event: 'next' }], continuation_token: null });
  });
});

describe('13. a line longer than the longest kept whole (LOG_MAX_BYTES)', () => {
  it('is cut between characters, never inside one', async () => {
    const file = join(api.logsDir, 'cut.log');
    writeFileSync(file, `${'€'.repeat(10)}\n`); // 30 bytes of 3-byte characters
    const pages: string[] = [];
    let offset = 0;
    for (let page = 0; page < 10; page++) {
      const read = await readLogPage(api.logsDir, file, offset, 4, 8);
      pages.push(...read.lines);
      offset = read.nextOffset;
      if (read.atEnd) break;
    }
    expect(pages.join('')).toBe('€'.repeat(10));
    expect(pages.every((line) => /^€+$/.test(line))).toBe(true);
  });
});

describe('14. deleting a run', () => {
  it("deletes its logs, so a run re-created under the same id does not show the old one's", async () => {
    const seed = () =>
      seedRun(api.prisma, {
        dagId: 'etl',
        runId: 'recreated',
        versionId,
        tis: [{ taskId: 'extract', state: 'success' }],
      });
    await seed();
    const file = join(api.logsDir, 'etl', 'recreated', 'extract', '1.log');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'from the deleted run\n');
    const path = '/api/v2/dags/etl/dagRuns/recreated';
    expect((await api.request(path, { method: 'DELETE' })).status).toBe(204);
    await seed();
    const body: any = await (await api.request(`${path}/taskInstances/extract/logs/1`)).json();
    expect(body.content).toEqual([]);
  });
});

describe('14b. a task log replaced by a link', () => {
  it('is not followed out of the logs folder: the answer is an empty log', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'linked_log',
      versionId,
      tis: [{ taskId: 'extract', state: 'success' }],
    });
    // A file of the API's host that the task's user put a link to in place of its log.
    const secret = join(api.logsDir, '..', `api-host-secret-${randomUUID()}`);
    writeFileSync(secret, 'not for API clients\n');
    const file = join(api.logsDir, 'etl', 'linked_log', 'extract', '1.log');
    mkdirSync(join(file, '..'), { recursive: true });
    symlinkSync(secret, file);
    try {
      const response = await api.request(
        '/api/v2/dags/etl/dagRuns/linked_log/taskInstances/extract/logs/1',
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ content: [], continuation_token: null });
    } finally {
      rmSync(secret, { force: true });
    }
  });
});

describe('15. bodies are read only by operations that have one', () => {
  it('answers GET /version with a malformed JSON body 200', async () => {
    const response = await rawRequest(
      'GET',
      '/api/v2/version',
      { 'content-type': 'application/json' },
      '{bad',
    );
    expect(response.status).toBe(200);
  });

  it('answers a DELETE with a 6,000-deep JSON body as if it had none', async () => {
    const response = await rawRequest(
      'DELETE',
      '/api/v2/dags/etl/dagRuns/no_such_run',
      { 'content-type': 'application/json' },
      '['.repeat(6000) + ']'.repeat(6000),
    );
    expect(response.status).toBe(404);
  });

  it('answers a 6,000-deep JSON body to an operation with a body 422', async () => {
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      { 'content-type': 'application/json' },
      '['.repeat(6000) + ']'.repeat(6000),
    );
    expect(response.status).toBe(422);
  });
});

describe('16. the media type of a body', () => {
  it('reads a body sent without Content-Type as JSON, as FastAPI does', async () => {
    // Python's requests.post(url, data=json.dumps(body)) sends no Content-Type.
    const response = await rawRequest(
      'POST',
      '/api/v2/dags/etl/dagRuns',
      {},
      '{"dag_run_id":"no_content_type","logical_date":null}',
    );
    expect(response.status, response.text).toBe(200);
    expect(await api.prisma.dagRun.count({ where: { runId: 'no_content_type' } })).toBe(1);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded'])(
    'answers a %s body 415 naming the media type to send, not "Field required"',
    async (type) => {
      const response = await rawRequest(
        'POST',
        '/api/v2/dags/etl/dagRuns',
        { 'content-type': type },
        '{"dag_run_id":"wrong_type","logical_date":null}',
      );
      expect(response.status).toBe(415);
      expect(JSON.parse(response.text).detail).toContain('Content-Type: application/json');
      expect(await api.prisma.dagRun.count({ where: { runId: 'wrong_type' } })).toBe(0);
    },
  );
});

describe('also', () => {
  it.each(['dag_id', '-duration', 'conf'])(
    'accepts order_by=%s on dagRuns, as Airflow',
    async (key) => {
      const response = await api.request(`/api/v2/dags/~/dagRuns?order_by=${key}`);
      expect(response.status).toBe(200);
    },
  );

  it.each(['dag_id', '-conf', 'dag_run_id'])(
    'accepts order_by=%s in the runs batch body, as Airflow',
    async (key) => {
      const response = await api.request('/api/v2/dags/~/dagRuns/list', {
        method: 'POST',
        json: { order_by: key },
      });
      expect(response.status).toBe(200);
    },
  );

  it.each(['data_interval_start', '-data_interval_end', 'rendered_map_index'])(
    'accepts order_by=%s on task instances, listed and in the batch body, as Airflow',
    async (key) => {
      const listed = await api.request(`/api/v2/dags/~/dagRuns/~/taskInstances?order_by=${key}`);
      expect(listed.status).toBe(200);
      const batch = await api.request('/api/v2/dags/~/dagRuns/~/taskInstances/list', {
        method: 'POST',
        json: { order_by: key },
      });
      expect(batch.status).toBe(200);
    },
  );

  it('reads none in run state and run type lists as Airflow does: no value, which no run has', async () => {
    for (const path of [
      '/api/v2/dags/~/dagRuns?state=none',
      '/api/v2/dags/~/dagRuns?run_type=none',
      '/api/v2/dags?dag_run_state=none',
    ]) {
      const response = await api.request(path);
      expect(response.status, path).toBe(200);
      expect(((await response.json()) as { total_entries: number }).total_entries, path).toBe(0);
    }
    const mixed = await api.request('/api/v2/dags/~/dagRuns?state=none&state=running');
    expect(((await mixed.json()) as { total_entries: number }).total_entries).toBe(
      await api.prisma.dagRun.count({ where: { state: 'running' } }),
    );
  });

  it.each(['True', 'FALSE', 't', 'n'])(
    'reads paused=%s as pydantic reads a boolean (Python clients send True and False)',
    async (value) => {
      const response = await api.request(`/api/v2/dags?paused=${value}`);
      expect(response.status).toBe(200);
      const paused = ['true', 't', 'y', 'yes', 'on', '1'].includes(value.toLowerCase());
      const body = (await response.json()) as { dags: { is_paused: boolean }[] };
      expect(body.dags.every((dag) => dag.is_paused === paused)).toBe(true);
    },
  );

  it("takes an empty list in a batch body as no filter, as Airflow's FilterParam", async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'empty_lists',
      versionId,
      tis: [{ taskId: 'extract', state: 'success' }],
    });
    const runs = await api.request('/api/v2/dags/~/dagRuns/list', {
      method: 'POST',
      json: { dag_ids: [], states: [] },
    });
    expect(((await runs.json()) as { total_entries: number }).total_entries).toBe(
      await api.prisma.dagRun.count(),
    );
    const instances = await api.request('/api/v2/dags/~/dagRuns/~/taskInstances/list', {
      method: 'POST',
      json: { dag_ids: [], dag_run_ids: [], task_ids: [], state: [], pool: [], executor: [] },
    });
    expect(((await instances.json()) as { total_entries: number }).total_entries).toBe(
      await api.prisma.taskInstance.count(),
    );
  });

  it.each([
    ['/api/v2/importErrors', 'stacktrace'],
    ['/api/v2/eventLogs', 'extra'],
  ])('accepts %s?order_by=%s, as Airflow', async (path, key) => {
    expect((await api.request(`${path}?order_by=-${key}`)).status).toBe(200);
  });

  it('breaks ties of import errors in the direction of the first key, as Airflow', async () => {
    await api.prisma.importError.createMany({
      data: [1, 2, 3].map((n) => ({ filename: `/dags/tie_${n}.json`, stackTrace: 'same trace' })),
    });
    const body: any = await (await api.request('/api/v2/importErrors?order_by=-stacktrace')).json();
    const ids = (body.import_errors as { stack_trace: string; import_error_id: number }[])
      .filter((error) => error.stack_trace === 'same trace')
      .map((error) => error.import_error_id);
    expect(ids).toHaveLength(3);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  it('reads a one-value parameter sent twice as its last value, as FastAPI does', async () => {
    await seedDag(api.prisma, 'second_dag', [smallDag('second_dag')]);
    const response = await api.request('/api/v2/dags?limit=5&limit=1&paused=true&paused=false');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { dags: unknown[]; total_entries: number };
    expect(body.dags).toHaveLength(1);
    expect(body.total_entries).toBeGreaterThan(1);
    // Lists stay lists: every value counts.
    const runs = await api.request('/api/v2/dags/~/dagRuns?state=queued&state=running&limit=1');
    expect(runs.status).toBe(200);
  });

  it('orders runs by duration', async () => {
    for (const [runId, seconds] of [
      ['slow', 30],
      ['quick', 5],
    ] as const) {
      await seedRun(api.prisma, { dagId: 'etl', runId, versionId, state: 'success' });
      await api.prisma.dagRun.update({
        where: { dagId_runId: { dagId: 'etl', runId } },
        data: { endDate: new Date(Date.parse('2026-02-01T10:00:00Z') + seconds * 1000) },
      });
    }
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns?order_by=duration&state=success')
    ).json();
    expect(body.dag_runs.map((run: any) => run.dag_run_id)).toEqual(['quick', 'slow']);
  });

  it('marks authenticated answers nosniff and no-store', async () => {
    for (const path of ['/api/v2/dags', '/api/v2/dags/nope']) {
      const response = await api.request(path);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('cuts a client that sends its headers too slowly after the configured headers timeout', async () => {
    const app = express();
    app.get('/', (_req, res) => void res.json({}));
    const running = await startServer(app, {
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      headersTimeoutMs: 1000,
      requestTimeoutMs: 2000,
    });
    try {
      const started = Date.now();
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const socket = connect(running.port, '127.0.0.1', () => {
          socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(Date.now() - started));
        socket.resume();
      });
      expect(closedAfter).toBeGreaterThanOrEqual(900);
      expect(closedAfter).toBeLessThan(3000);
    } finally {
      await running.close(100);
    }
  });
});
