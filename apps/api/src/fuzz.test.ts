import { request as httpRequest } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    tis: [{ taskId: 'extract', state: 'failed' }],
  });
});

afterAll(() => api.close());

/** Sends exactly these bytes as path and body (no client-side URL normalization). */
function send(
  method: string,
  path: string,
  body: string | Buffer | undefined,
  contentType: string,
  extraHeaders: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${TEST_TOKEN}`,
      ...extraHeaders,
    };
    if (body !== undefined) {
      headers['content-type'] = contentType;
      // Node's client sends a DELETE body without framing unless told its length.
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    // A fresh connection per case, so that one case's connection handling cannot affect the next.
    const request = httpRequest(
      { host: '127.0.0.1', port: api.server.port, method, path, headers, agent: false },
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
    request.on('error', reject);
    request.end(body);
  });
}

// Segments: realistic ids, hostile strings, and raw (possibly malformed) percent-encodings.
const segment = fc.oneof(
  fc.constantFrom(
    'etl',
    'r1',
    'extract',
    '1',
    '0',
    '-1',
    '~',
    '..',
    '.',
    '%2e%2e',
    '%2F',
    '%00',
    '%',
    '%E0%A4%A',
    '99999999999999999999',
    'null',
    // odd ids: separators, spaces, long multi-byte names, a lone surrogate's bytes
    'has%2Fslash',
    'with%20space',
    encodeURIComponent('😀'.repeat(125)),
    'x'.repeat(300),
    '%ED%A0%80',
    '0x10',
  ),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent),
);

const queryValue = fc.oneof(
  fc.constantFrom(
    '',
    '-1',
    '0',
    '1001',
    'abc',
    'true',
    'maybe',
    '2026-01-01T00:00:00Z',
    'not-a-date',
    '%',
    '-id',
    'password',
    'bm9wZQ',
    // odd integers
    '%20',
    '0x10',
    '1e3',
    '-0',
    '%2B5',
    '1.0',
    '2147483648',
    '%D9%A3',
    // naive and odd timestamps
    '2026-03-05T00:00:00',
    '2026-03-05T00:00',
    '2026-03-05',
    '2026-03-05T00:00:00%2B01:00',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const queryKey = fc.constantFrom(
  'limit',
  'offset',
  'order_by',
  'state',
  'tags',
  'paused',
  'exclude_stale',
  'dag_id_pattern',
  'run_after_gte',
  'logical_date_lt',
  'run_type',
  'version_number',
  'try_number',
  'token',
  'full_content',
  'map_index',
  'update_mask',
  'task_id',
  'dag_ids',
  'tag_name_pattern',
  'dag_display_name_pattern',
  'has_import_errors',
  'last_dag_run_state',
  'dag_run_state',
  'dag_run_start_date_gte',
  'warning_type',
  'event',
  'included_events',
  'excluded_events',
  'owner',
  'before',
  'after',
  'junk',
  'logical_date_gte',
  'start_date_lte',
);
const query = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 5 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

/** JSON nested `depth` levels: objects, arrays, or both in turn. */
const deepJson = fc
  .tuple(
    fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6000 })),
    fc.constantFrom('{"a":', '[', 'mixed'),
  )
  .map(([depth, kind]) => {
    const opens = Array.from({ length: depth - 1 }, (_, i) =>
      kind === 'mixed' ? (i % 2 === 0 ? '{"a":' : '[') : kind,
    );
    const closes = opens.map((open) => (open === '[' ? ']' : '}')).reverse();
    return `${opens.join('')}{}${closes.join('')}`;
  });

/** Wide JSON: many keys or many items (some over the body limit). */
const wideJson = fc
  .tuple(fc.integer({ min: 1, max: 8000 }), fc.boolean())
  .map(([width, asObject]) =>
    asObject
      ? `{${Array.from({ length: width }, (_, i) => `"k${i}":${i}`).join(',')}}`
      : `[${Array.from({ length: width }, (_, i) => i).join(',')}]`,
  );

/** Numbers a 64-bit float may or may not hold exactly. */
const oddNumber = fc.constantFrom(
  '12345678901234567890',
  '9007199254740993',
  '1e400',
  '-1e400',
  '1e-400',
  '5e-324',
  '0.1',
  '1.50',
  '-0',
  '1E2',
);

const naiveDate = fc
  .date({ noInvalidDate: true, min: new Date('1900-01-01'), max: new Date('2200-01-01') })
  .map((date) => date.toISOString().replace(/\.\d{3}Z$/, ''));

/** Run ids the executor could or could not use (JSON string literals, escapes included). */
const oddRunId = fc.oneof(
  fc.constantFrom(
    '"has/slash"',
    '".."',
    '"."',
    '"with space"',
    `"${'😀'.repeat(125)}"`,
    `"${'x'.repeat(251)}"`,
    '"a\\ud800b"',
    '"\\u0000"',
    '""',
    '"~"',
    '"ok_run.1:2+3~4-5"',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }).map((id) => JSON.stringify(id)),
);

const triggerBody = fc
  .record({
    runId: fc.option(oddRunId, { nil: undefined, freq: 2 }),
    logicalDate: fc.oneof(
      { weight: 3, arbitrary: fc.constant('null') },
      { weight: 1, arbitrary: naiveDate.map((date) => JSON.stringify(date)) },
      {
        weight: 1,
        arbitrary: fc
          .date({ noInvalidDate: true })
          .map((date) => JSON.stringify(date.toISOString())),
      },
    ),
    conf: fc.oneof(
      deepJson,
      wideJson,
      oddNumber.map((n) => `{"n":${n}}`),
      fc.constant('{"__proto__":{"x":1}}'),
      fc.jsonValue().map((value) => JSON.stringify({ v: value })),
    ),
  })
  .map(
    ({ runId, logicalDate, conf }) =>
      `{${runId === undefined ? '' : `"dag_run_id":${runId},`}"logical_date":${logicalDate},"conf":${conf}}`,
  );

const body = fc.oneof(
  fc.constant(undefined),
  fc.json().map(String),
  fc.jsonValue().map((value) =>
    JSON.stringify({
      logical_date: null,
      conf: value,
      dry_run: value,
      state: value,
      note: value,
    }),
  ),
  fc
    .record(
      {
        dag_run_id: fc.oneof(fc.string(), fc.constant(null), fc.integer()),
        logical_date: fc.oneof(
          fc.constant(null),
          fc.string(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        ),
        conf: fc.oneof(fc.object(), fc.array(fc.integer()), fc.string()),
        data_interval_start: fc.oneof(fc.constant(undefined), fc.string()),
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  fc
    .record(
      { is_paused: fc.oneof(fc.boolean(), fc.string(), fc.constant(null)), extra: fc.integer() },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 50 }),
  deepJson,
  wideJson,
  triggerBody,
);

/** How the body travels: as is, compressed as declared, or declared compressed but not. */
const encoding = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ name: undefined, compress: false }) },
  {
    weight: 1,
    arbitrary: fc.record({
      name: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress'),
      compress: fc.boolean(),
    }),
  },
);

function encode(text: string, how: { name: string | undefined; compress: boolean }): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (!how.compress) return bytes;
  if (how.name === 'gzip') return gzipSync(bytes);
  if (how.name === 'deflate') return deflateSync(bytes);
  if (how.name === 'br') return brotliCompressSync(bytes);
  return bytes;
}

/**
 * Every GET operation answering a collection (`total_entries`), with its path filled in. Not
 * listMapped: no task is mapped, so it answers 404 "not mapped" for every task, as Airflow.
 */
function listingPaths(): string[] {
  const values: Record<string, string> = {
    dag_id: 'etl',
    dag_run_id: 'r1',
    task_id: 'extract',
    map_index: '-1',
  };
  return api.app.routes
    .filter((route) => {
      const schema = route.success.schema as { shape?: Record<string, unknown> } | undefined;
      return (
        route.method === 'get' &&
        schema?.shape?.total_entries !== undefined &&
        route.operationId !== 'get_mapped_task_instances'
      );
    })
    .map((route) => route.path.replace(/\{([a-z_]+)\}/g, (_, name: string) => values[name]!));
}

/**
 * A listing answers 200, or 404 when the resource it lists under is gone (an accepted DELETE of
 * the run the fuzz targets): then that parent itself is a 404.
 */
async function listingProblems(): Promise<string[]> {
  const problems: string[] = [];
  for (const path of listingPaths()) {
    const response = await send('GET', path, undefined, 'application/json');
    if (response.status === 200) continue;
    const parent = path.replace(/\/[^/]+$/, '');
    const parentGone =
      response.status === 404 &&
      (await send('GET', parent, undefined, 'application/json')).status === 404;
    if (!parentGone) problems.push(`${path} -> ${response.status} ${response.text.slice(0, 200)}`);
  }
  return problems;
}

describe('no malformed request makes the server answer 500', () => {
  it('holds over every route with arbitrary path segments, query strings, bodies and encodings; after any accepted request every listing still answers 200', async () => {
    const routes = api.app.routes;
    expect(listingPaths().length).toBeGreaterThanOrEqual(6);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: routes.length - 1 }),
        fc.array(segment, { minLength: 6, maxLength: 6 }),
        query,
        body,
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=latin9',
        ),
        encoding,
        async (routeIndex, segments, queryString, requestBody, contentType, how) => {
          const route = routes[routeIndex]!;
          let next = 0;
          const path = route.path.replace(/\{[a-z_]+\}/g, () => segments[next++]!) + queryString;
          // GET bodies too: they must be ignored, not parsed.
          const sent = requestBody === undefined ? undefined : encode(requestBody, how);
          const response = await send(
            route.method.toUpperCase(),
            path,
            sent,
            contentType,
            how.name === undefined ? {} : { 'content-encoding': how.name },
          );
          const what = `${route.method} ${path} ${(requestBody ?? '').slice(0, 300)} (${how.name ?? 'plain'}${how.compress ? ', compressed' : ''}) -> ${response.text.slice(0, 300)}`;
          expect(response.status, what).toBeLessThan(500);
          expect(() => JSON.parse(response.text || '{}')).not.toThrow();
          expect(response.text).not.toMatch(/at .+\.ts:\d+/);
          if (response.status < 300) expect(await listingProblems(), what).toEqual([]);
        },
      ),
      { numRuns: 600, seed: 20261121 },
    );
  }, 180_000);
});

describe('accepted writes never leave a listing broken', () => {
  it('holds for triggers with deep, wide, inexact or odd conf, odd run ids, naive dates and compressed bodies', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(triggerBody, encoding, async (requestBody, how) => {
        const response = await send(
          'POST',
          '/api/v2/dags/etl/dagRuns',
          encode(requestBody, how),
          'application/json',
          how.name === undefined ? {} : { 'content-encoding': how.name },
        );
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const what = `${requestBody.slice(0, 300)} (${how.name ?? 'plain'}) -> ${response.text.slice(0, 300)}`;
        expect(response.status, what).toBeLessThan(500);
        if (response.status < 300) expect(await listingProblems(), what).toEqual([]);
      }),
      { numRuns: 300, seed: 20261201 },
    );
    // The property is not vacuous: some triggers were accepted, some refused.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(30);
    expect(statuses.get(422) ?? 0).toBeGreaterThan(10);
  }, 180_000);
});

describe('task instance and run operations with structured bodies', () => {
  const taskId = fc.constantFrom('extract', 'transform', 'load', 'ghost', '~');
  const odd = fc.oneof(
    fc.constant(null),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 8 }),
    fc.constant([]),
    fc.constant({}),
  );
  const flag = fc.oneof(fc.boolean(), odd);
  const state = fc.oneof(
    fc.constantFrom('success', 'failed', 'skipped', 'SUCCESS', 'running', 'up_for_retry', 'x'),
    odd,
  );
  const date = fc.oneof(
    fc.constantFrom('2026-02-01T10:00:00Z', '2026-02-01T10:00:00', '2999-01-01T00:00:00+14:00'),
    odd,
  );
  const patchFields = fc.record(
    {
      new_state: state,
      note: fc.oneof(fc.string({ maxLength: 20 }), fc.constant('n'.repeat(1001)), odd),
      include_upstream: flag,
      include_downstream: flag,
      include_future: flag,
      include_past: flag,
      bogus: odd,
    },
    { requiredKeys: [] },
  );
  const bulkEntity = fc.oneof(
    taskId,
    fc
      .record(
        { task_id: taskId, map_index: fc.oneof(fc.integer(), fc.constant(-1), odd) },
        { requiredKeys: ['task_id'] },
      )
      .chain((entity) => patchFields.map((fields) => ({ ...fields, ...entity }))),
  );
  const request = fc.oneof(
    fc
      .tuple(
        taskId,
        fc.constantFrom('', '/dry_run', '/-1', '/-1/dry_run', '/0', '?map_index=-1'),
        fc.constantFrom('', '?update_mask=note', '?update_mask=new_state&update_mask=note'),
        patchFields,
      )
      .map(([task, suffix, mask, fields]) => ({
        method: 'PATCH',
        path: `/api/v2/dags/etl/dagRuns/r1/taskInstances/${task}${suffix}${suffix.includes('?') ? mask.replace('?', '&') : mask}`,
        body: fields,
      })),
    fc
      .array(
        fc.record(
          {
            action: fc.constantFrom('create', 'update', 'delete', 'upsert'),
            entities: fc.array(bulkEntity, { maxLength: 3 }),
            action_on_non_existence: fc.constantFrom('fail', 'skip', 'maybe'),
          },
          { requiredKeys: ['action', 'entities'] },
        ),
        { maxLength: 3 },
      )
      .map((actions) => ({
        method: 'PATCH',
        path: '/api/v2/dags/etl/dagRuns/r1/taskInstances',
        body: { actions },
      })),
    fc
      .record(
        {
          dry_run: flag,
          dag_run_id: fc.oneof(fc.constantFrom('r1', 'ghost'), odd),
          task_ids: fc.oneof(
            fc.array(fc.oneof(taskId, fc.tuple(taskId, fc.integer({ min: -2, max: 2 }))), {
              maxLength: 3,
            }),
            odd,
          ),
          only_failed: flag,
          only_running: flag,
          reset_dag_runs: flag,
          include_upstream: flag,
          include_downstream: flag,
          include_past: flag,
          include_future: flag,
          start_date: date,
          end_date: date,
        },
        { requiredKeys: [] },
      )
      .map((fields) => ({
        method: 'POST',
        path: '/api/v2/dags/etl/clearTaskInstances',
        body: fields,
      })),
    fc
      .record(
        {
          dag_ids: fc.oneof(fc.array(fc.constantFrom('etl', 'ghost')), odd),
          dag_run_ids: fc.oneof(fc.array(fc.constantFrom('r1', 'ghost')), odd),
          state: fc.oneof(fc.array(state, { maxLength: 2 }), odd),
          states: fc.oneof(fc.array(state, { maxLength: 2 }), odd),
          page_limit: fc.oneof(fc.integer(), fc.constant(2 ** 53), odd),
          page_offset: fc.oneof(fc.integer(), fc.constant(2 ** 40), odd),
          order_by: fc.oneof(fc.constantFrom('-id', 'task_id', 'run_after', 'conf', 'x'), odd),
          logical_date_gte: date,
          duration_lt: fc.oneof(fc.double(), odd),
        },
        { requiredKeys: [] },
      )
      .chain((fields) =>
        fc.constantFrom(
          { method: 'POST', path: '/api/v2/dags/~/dagRuns/~/taskInstances/list', body: fields },
          { method: 'POST', path: '/api/v2/dags/~/dagRuns/list', body: fields },
        ),
      ),
    fc
      .tuple(
        taskId,
        fc.constantFrom('/tries', '/tries/1', '/tries/0', '/-1/tries', '/dependencies', '/0'),
      )
      .map(([task, suffix]) => ({
        method: 'GET',
        path: `/api/v2/dags/etl/dagRuns/r1/taskInstances/${task}${suffix}`,
        body: undefined,
      })),
  );

  it('never answer 500, and after any accepted one every listing still answers 200', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, body }) => {
        const text = body === undefined ? undefined : JSON.stringify(body);
        const response = await send(method, path, text, 'application/json');
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const what = `${method} ${path} ${(text ?? '').slice(0, 300)} -> ${response.text.slice(0, 300)}`;
        expect(response.status, what).toBeLessThan(500);
        expect(() => JSON.parse(response.text || '{}')).not.toThrow();
        if (response.status < 300) expect(await listingProblems(), what).toEqual([]);
      }),
      { numRuns: 400, seed: 20261202 },
    );
    // Not vacuous: operations were accepted as well as refused.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(20);
    expect(statuses.get(422) ?? 0).toBeGreaterThan(20);
  }, 180_000);
});
