/**
 * Scenario 4: bad input. A corpus of malformed DAG files (tests/reliability/corpus, plus a 10 MB
 * file generated here) read by a real scheduler process: each is an import error with its precise
 * reason, valid DAGs beside them are unaffected. Then hostile requests against every endpoint of a
 * real API process: no 500, no hang, 413 for oversized bodies, SQL-looking strings kept verbatim.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  client,
  FULL,
  scenarioEnv,
  scenarioFolder,
  startApi,
  startScheduler,
  tearDownScenario,
  tokensInLogs,
  waitFor,
  type ApiChild,
} from './cluster.ts';
import { recordResult } from './results.ts';
import { query, runsOf } from './workload.ts';

const CORPUS = join(import.meta.dirname, '..', 'corpus');
const CORPUS_FILES = Object.keys(
  (
    JSON.parse(readFileSync(join(CORPUS, 'expected.json'), 'utf8')) as {
      expected: Record<string, string>;
    }
  ).expected,
);
const TOKEN = `rel-${randomBytes(12).toString('hex')}`;
const BODY_LIMIT = 65_536;
const FUZZ_RUNS = FULL ? 5000 : 250;
const HUGE_FILE = 'huge-10mb.json';
const HUGE_BYTES = 10 * 1024 * 1024;
const BREAKS_LATER = 'valid-3.json';

interface ImportError {
  filename: string;
  stack_trace: string;
}

let db: TestDatabase;
let workDir: string;
let dagsFolder: string;
let expected: Record<string, string> = {};
let api: ApiChild;
let request: ReturnType<typeof client>;
let importErrors: ImportError[] = [];
const fuzz = { requests: 0, statuses: new Map<number, number>(), slowestMs: 0 };

const validDag = (dagId: string) => ({
  dag_id: dagId,
  tasks: [
    { task_id: 'a', operator: 'bash', bash_command: 'echo ok' },
    { task_id: 'b', operator: 'empty', upstream: ['a'] },
  ],
});

async function listImportErrors(): Promise<ImportError[]> {
  const response = await request('/api/v2/importErrors?limit=1000');
  return (response.body as unknown as { import_errors: ImportError[] }).import_errors ?? [];
}

const errorOf = (file: string) =>
  importErrors.find((e) => e.filename.endsWith(`/${file}`) || e.filename === file);

beforeAll(async () => {
  db = await createTestDatabase();
  ({ workDir, dagsFolder } = await scenarioFolder('input'));
  expected = (
    JSON.parse(await readFile(join(CORPUS, 'expected.json'), 'utf8')) as {
      expected: Record<string, string>;
    }
  ).expected;
  for (const file of [...Object.keys(expected), 'a-valid-1.json', 'valid-2.json'])
    await copyFile(join(CORPUS, file), join(dagsFolder, file));
  await writeFile(join(dagsFolder, BREAKS_LATER), JSON.stringify(validDag('valid_three')));
  // 10 MB of well-formed JSON: refused for its size before it is parsed.
  const padding = 'x'.repeat(HUGE_BYTES);
  const huge = JSON.stringify({ dag_id: 'huge', description: padding, tasks: [] });
  await writeFile(join(dagsFolder, HUGE_FILE), huge);
  expected[HUGE_FILE] =
    `file is ${Buffer.byteLength(huge)} bytes; a DAG file may be at most 5242880 bytes`;

  const env = scenarioEnv(
    db.url,
    { workDir, dagsFolder },
    { API_AUTH_TOKENS: TOKEN, API_BODY_LIMIT_BYTES: String(BODY_LIMIT) },
  );
  await startScheduler('scheduler-1', env);
  api = await startApi('api-1', env);
  request = client(api.url, TOKEN);
  const files = Object.keys(expected).length;
  await waitFor(
    'every malformed file is an import error',
    async () => (await listImportErrors()).length >= files,
    60_000,
    250,
  );
  await waitFor(
    'valid_three is stored',
    async () => (await request('/api/v2/dags/valid_three')).status === 200,
    30_000,
  );
  // A DAG whose file breaks later keeps its last good version.
  await writeFile(join(dagsFolder, BREAKS_LATER), '{"dag_id": "valid_three", "tasks": [');
  expected[BREAKS_LATER] = 'invalid JSON';
  await waitFor(
    'the broken valid-3.json is an import error',
    async () => (await listImportErrors()).length >= files + 1,
    30_000,
    250,
  );
  importErrors = await listImportErrors();
}, 120_000);

afterAll(() =>
  tearDownScenario({
    releaseDatabase: () => db?.drop(),
    workDir,
    then: () => {
      recordResult('4-bad-input', {
        order: 4,
        scenario: '4 bad input',
        load: '1 scheduler + 1 API',
        faults: `${Object.keys(expected).length} malformed DAG files (one of 10 MB, one valid file broken later); hostile HTTP requests`,
        inputs: `${fuzz.requests} fast-check requests over every route (statuses ${[
          ...fuzz.statuses,
        ]
          .sort((a, b) => a[0] - b[0])
          .map(([s, n]) => `${s}:${n}`)
          .join(' ')}); oversized bodies; SQL-looking strings`,
        lost: 0,
        duplicated: 0,
        figures: `import errors ${importErrors.length}; slowest fuzz response ${fuzz.slowestMs} ms; 500s ${fuzz.statuses.get(500) ?? 0}`,
      });
    },
  }),
);

describe('bad input: malformed DAG files', () => {
  it('holds at least 30 malformed files in the corpus', () => {
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(30);
  });

  it('reports one import error per malformed file, and none for a valid one', () => {
    expect(importErrors.map((e) => e.filename.split('/').at(-1)).sort()).toEqual(
      Object.keys(expected).sort(),
    );
  });

  it.each(CORPUS_FILES)('reports %s with its precise reason', (file) => {
    expect(errorOf(file)?.stack_trace).toContain(expected[file]);
  });

  it('reports the 10 MB file with its size and the limit', () => {
    expect(errorOf(HUGE_FILE)?.stack_trace).toContain(expected[HUGE_FILE]);
  });

  it('serves the valid DAGs beside the malformed ones, with their tasks', async () => {
    const tasks = await Promise.all(
      ['valid_one', 'valid_two'].map(
        async (id) => (await request(`/api/v2/dags/${id}/tasks`)).body,
      ),
    );
    expect(
      tasks.map((body) =>
        (body as unknown as { tasks: { task_id: string }[] }).tasks.map((t) => t.task_id),
      ),
    ).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
  });

  it('keeps the first file of a duplicated dag_id as its definition', async () => {
    const dag = await request('/api/v2/dags/valid_one/details');
    expect((dag.body as { fileloc?: string }).fileloc).toMatch(/a-valid-1\.json$/);
  });

  it('keeps the last good version of a DAG whose file breaks', async () => {
    const versions = await request('/api/v2/dags/valid_three/dagVersions');
    expect({
      status: (await request('/api/v2/dags/valid_three')).status,
      versions: versions.body.total_entries,
    }).toEqual({ status: 200, versions: 1 });
  });

  it('stores no DAG from a malformed file', async () => {
    const dags = await request('/api/v2/dags?limit=1000');
    expect(
      (dags.body as unknown as { dags: { dag_id: string }[] }).dags.map((d) => d.dag_id).sort(),
    ).toEqual(['valid_one', 'valid_three', 'valid_two']);
  });

  it('runs a valid DAG to success while the malformed files stay', async () => {
    const trigger = await request('/api/v2/dags/valid_one/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'unaffected', logical_date: null },
    });
    expect(trigger.status).toBe(200);
    await waitFor(
      'the run ends',
      async () =>
        (await runsOf(db.url, 'valid_one')).some(
          (r) => r.run_id === 'unaffected' && r.state === 'success',
        ),
      30_000,
    );
  });
});

/**
 * Sends exactly these bytes as path and body on a fresh connection; rejects after 10 s (a hang).
 */
function send(
  method: string,
  path: string,
  body: string | undefined,
  contentType: string,
  token = TOKEN,
): Promise<{ status: number; text: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = httpRequest(
      { host: '127.0.0.1', port: api.port, method, path, headers, agent: false, timeout: 10_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: Date.now() - started,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const SQLISH = [
  "x'; DROP TABLE dag_run; --",
  "' OR '1'='1",
  'Robert"); DELETE FROM task_instance; --',
  '1; SELECT pg_sleep(10)',
  '$$; TRUNCATE dag $$',
  "\\'; --",
];

const segment = fc.oneof(
  fc.constantFrom(
    'valid_one',
    'unaffected',
    'a',
    'b',
    '1',
    '0',
    '-1',
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
  fc.constantFrom(...SQLISH).map(encodeURIComponent),
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
    '2026-01-01T00:00:00Z',
    'not-a-date',
    '%',
    '-id',
    'bm9wZQ',
  ),
  fc.constantFrom(...SQLISH).map(encodeURIComponent),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const queryKey = fc.constantFrom(
  'limit',
  'offset',
  'order_by',
  'state',
  'tags',
  'paused',
  'dag_id_pattern',
  'run_after_gte',
  'logical_date_lt',
  'run_type',
  'token',
  'full_content',
  'map_index',
  'update_mask',
  'junk',
);
const queryString = fc
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
        dag_run_id: fc.oneof(
          fc.string(),
          fc.constantFrom(...SQLISH),
          fc.constant(null),
          fc.integer(),
        ),
        logical_date: fc.oneof(fc.constant(null), fc.string()),
        conf: fc.oneof(fc.object(), fc.string()),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 50 }),
);

describe('bad input: hostile requests against every endpoint', () => {
  it(
    `answers ${FUZZ_RUNS} random requests over every route without a 500 and without hanging`,
    async () => {
      const spec = (await request('/api/v2/openapi.json')).body as unknown as {
        paths: Record<string, Record<string, unknown>>;
      };
      const routes = Object.entries(spec.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => ({ path, method: method.toUpperCase() })),
      );
      expect(routes.length).toBeGreaterThanOrEqual(20);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: routes.length - 1 }),
          fc.array(segment, { minLength: 6, maxLength: 6 }),
          queryString,
          body,
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
          async (routeIndex, segments, qs, requestBody, contentType) => {
            const route = routes[routeIndex]!;
            let next = 0;
            const path = route.path.replace(/\{[a-z_]+\}/g, () => segments[next++]!) + qs;
            const response = await send(
              route.method,
              path,
              route.method === 'GET' ? undefined : requestBody,
              contentType,
            );
            fuzz.requests++;
            fuzz.statuses.set(response.status, (fuzz.statuses.get(response.status) ?? 0) + 1);
            fuzz.slowestMs = Math.max(fuzz.slowestMs, response.ms);
            expect(
              response.status,
              `${route.method} ${path} ${requestBody ?? ''} -> ${response.text}`,
            ).toBeLessThan(500);
          },
        ),
        { numRuns: FUZZ_RUNS, seed: FULL ? Date.now() : 20261121 },
      );
    },
    FULL ? 900_000 : 60_000,
  );

  it.each([
    ['POST', '/api/v2/dags/valid_one/dagRuns'],
    ['PATCH', '/api/v2/dags/valid_one/dagRuns/unaffected'],
    ['POST', '/api/v2/dags/valid_one/dagRuns/unaffected/clear'],
  ])('refuses a body over the limit on %s %s with 413 and a detail', async (method, path) => {
    const big = JSON.stringify({ logical_date: null, conf: { blob: 'x'.repeat(BODY_LIMIT + 1) } });
    const response = await send(method, path, big, 'application/json');
    expect({
      status: response.status,
      hasDetail: typeof (JSON.parse(response.text) as { detail?: unknown }).detail === 'string',
    }).toEqual({ status: 413, hasDetail: true });
  });

  it.each(SQLISH.map((sql, index) => [sql, `sqlish_${index}`]))(
    'stores and returns the SQL-looking string %s verbatim as conf and note',
    async (sql, runId) => {
      const created = await request('/api/v2/dags/valid_two/dagRuns', {
        method: 'POST',
        json: { dag_run_id: runId, logical_date: null, conf: { [sql]: sql }, note: sql },
      });
      expect(created.status).toBe(200);
      const read = await request(`/api/v2/dags/valid_two/dagRuns/${runId}`);
      expect({ conf: read.body.conf, note: read.body.note }).toEqual({
        conf: { [sql]: sql },
        note: sql,
      });
    },
  );

  it.each(SQLISH)(
    'refuses the SQL-looking string %s as a dag_run_id with 400 naming the run id rule',
    async (sql) => {
      const created = await request('/api/v2/dags/valid_two/dagRuns', {
        method: 'POST',
        json: { dag_run_id: sql, logical_date: null },
      });
      expect({ status: created.status, detail: created.body.detail }).toEqual({
        status: 400,
        detail: expect.stringContaining('run_id'),
      });
    },
  );

  it('keeps every table after the SQL-looking strings', async () => {
    const tables = await query<{ n: string }>(
      db.url,
      "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('dag', 'dag_run', 'task_instance', 'dag_version', 'serialized_dag')",
    );
    expect(Number(tables[0]!.n)).toBe(5);
  });

  it('prints the bearer token in no log of any process', () => {
    expect(tokensInLogs([TOKEN])).toEqual([]);
  });
});
