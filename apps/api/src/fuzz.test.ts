import { request as httpRequest } from 'node:http';
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
  body: string | undefined,
  contentType: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${TEST_TOKEN}` };
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
  'warning_type',
  'event',
  'included_events',
  'excluded_events',
  'owner',
  'before',
  'after',
  'junk',
);
const query = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 5 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

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
);

describe('no malformed request makes the server answer 500', () => {
  it('holds over every route with arbitrary path segments, query strings and bodies', async () => {
    const routes = api.app.routes;
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
        async (routeIndex, segments, queryString, requestBody, contentType) => {
          const route = routes[routeIndex]!;
          let next = 0;
          const path = route.path.replace(/\{[a-z_]+\}/g, () => segments[next++]!) + queryString;
          const response = await send(
            route.method.toUpperCase(),
            path,
            route.method === 'get' ? undefined : requestBody,
            contentType,
          );
          expect(
            response.status,
            `${route.method} ${path} ${requestBody ?? ''} -> ${response.text}`,
          ).toBeLessThan(500);
          expect(() => JSON.parse(response.text || '{}')).not.toThrow();
          expect(response.text).not.toMatch(/at .+\.ts:\d+/);
        },
      ),
      { numRuns: 600, seed: 20261121 },
    );
  }, 60_000);
});
