/**
 * Every answer conforms to the OpenAPI document the API itself serves: a broad replay of real
 * requests, happy and error paths, across every family, each answer checked for a documented
 * status, content type and (JSON) schema. Airflow's own schemas are checked in
 * airflow-schemas.test.ts; this holds our document and our answers together.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenApiContract, observe, type ObservedAnswer } from './testing/openapi-contract.ts';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let contract: OpenApiContract;

beforeAll(async () => {
  api = await startTestApi();
  const versions = await seedDag(api.prisma, 'docs', [
    smallDag('docs'),
    smallDag('docs', { description: 'v2' }),
  ]);
  await seedRun(api.prisma, {
    dagId: 'docs',
    runId: 'r1',
    versionId: versions[1]!,
    tis: [
      { taskId: 'extract', state: 'success' },
      { taskId: 'transform', state: 'failed' },
      { taskId: 'load', state: 'upstream_failed' },
    ],
  });
  await seedRun(api.prisma, {
    dagId: 'docs',
    runId: 'done',
    versionId: versions[1]!,
    state: 'success',
    tis: [{ taskId: 'extract', state: 'success' }],
  });
  await seedDag(api.prisma, 'other', [smallDag('other')]);
  await api.prisma.importError.create({
    data: { filename: '/dags/broken.json', stackTrace: 'broken.json:1:1: not JSON' },
  });
  mkdirSync(join(api.logsDir, 'docs', 'r1', 'extract'), { recursive: true });
  writeFileSync(join(api.logsDir, 'docs', 'r1', 'extract', '1.log'), 'one\ntwo\n');
  contract = new OpenApiContract(
    (await (await api.request('/api/v2/openapi.json')).json()) as Record<string, any>,
  );
});

afterAll(() => api.close());

type Step = {
  method?: string;
  url: string;
  json?: unknown;
  headers?: Record<string, string>;
  token?: string | null;
  /** The status this request must get (the contract alone would accept any documented one). */
  status: number;
};

const RUN = '/api/v2/dags/docs/dagRuns/r1';
const TI = `${RUN}/taskInstances`;

/** In order: later steps change what earlier ones read. */
const STEPS: Step[] = [
  { url: '/api/v2/monitor/health', status: 200, token: null },
  { url: '/api/v2/version', status: 200, token: null },
  { url: '/api/v2/dags', status: 401, token: null },
  { url: '/api/v2/dags', status: 401, token: 'wrong-token-0123456789' },
  { url: '/api/v2/dags', status: 200 },
  { url: '/api/v2/dags?limit=1&offset=1&order_by=-dag_id', status: 200 },
  { url: '/api/v2/dags?last_dag_run_state=success', status: 200 },
  { url: '/api/v2/dags?order_by=nope', status: 400 },
  { url: '/api/v2/dags?limit=x', status: 422 },
  { url: '/api/v2/dags/docs', status: 200 },
  { url: '/api/v2/dags/missing', status: 404 },
  { url: '/api/v2/dags/docs/details', status: 200 },
  { url: '/api/v2/dags/missing/details', status: 404 },
  { url: '/api/v2/dagTags', status: 200 },
  { url: '/api/v2/dags/docs/tasks', status: 200 },
  { url: '/api/v2/dags/docs/tasks/extract', status: 200 },
  { url: '/api/v2/dags/docs/tasks/nope', status: 404 },
  { url: '/api/v2/importErrors', status: 200 },
  { url: '/api/v2/importErrors/2147483647', status: 404 },
  { url: '/api/v2/dagSources/docs', status: 200 },
  { url: '/api/v2/dagSources/docs', headers: { accept: 'text/plain' }, status: 200 },
  { url: '/api/v2/dagSources/docs?version_number=1', status: 200 },
  { url: '/api/v2/dagSources/missing', status: 404 },
  { url: '/api/v2/dagStats', status: 200 },
  { url: '/api/v2/dagStats?dag_ids=docs&dag_ids=missing', status: 200 },
  { url: '/api/v2/dagWarnings', status: 200 },
  { url: '/api/v2/dags/docs/dagVersions', status: 200 },
  { url: '/api/v2/dags/~/dagVersions?order_by=-version_number', status: 200 },
  { url: '/api/v2/dags/docs/dagVersions/1', status: 200 },
  { url: '/api/v2/dags/docs/dagVersions/99', status: 404 },
  { url: '/api/v2/dags/docs/dagVersions/1/structure', status: 200 },
  {
    url: '/api/v2/dags/docs/dagVersions/1/structure',
    headers: { 'if-none-match': '*' },
    status: 304,
  },
  { url: '/api/v2/dags/docs/dagVersions/99/structure', status: 404 },
  { url: '/api/v2/dags/docs/dagRuns', status: 200 },
  { url: '/api/v2/dags/~/dagRuns?state=failed&order_by=-run_after', status: 200 },
  { url: '/api/v2/dags/missing/dagRuns', status: 404 },
  { method: 'POST', url: '/api/v2/dags/~/dagRuns/list', json: {}, status: 200 },
  { method: 'POST', url: '/api/v2/dags/~/dagRuns/list', json: { page_limit: -1 }, status: 422 },
  { url: RUN, status: 200 },
  { url: '/api/v2/dags/docs/dagRuns/nope', status: 404 },
  { url: `${RUN}/structure`, status: 200 },
  { url: '/api/v2/dags/docs/dagRuns/done/wait?interval=0.1', status: 200 },
  { url: TI, status: 200 },
  { url: '/api/v2/dags/~/dagRuns/~/taskInstances?state=failed', status: 200 },
  { method: 'POST', url: '/api/v2/dags/~/dagRuns/~/taskInstances/list', json: {}, status: 200 },
  { url: `${TI}/extract`, status: 200 },
  { url: `${TI}/nope`, status: 404 },
  { url: `${TI}/extract/-1`, status: 200 },
  { url: `${TI}/extract/0`, status: 404 },
  { url: `${TI}/extract/listMapped`, status: 404 },
  { url: `${TI}/extract/tries`, status: 200 },
  { url: `${TI}/extract/tries/1`, status: 200 },
  { url: `${TI}/extract/tries/9`, status: 404 },
  { url: `${TI}/load/dependencies`, status: 200 },
  { url: `${TI}/extract/logs/1`, status: 200 },
  { url: `${TI}/extract/logs/1`, headers: { accept: 'application/x-ndjson' }, status: 200 },
  { url: `${TI}/extract/logs/7`, status: 404 },
  { url: '/api/v2/monitor/dagbag', status: 200 },
  { url: '/api/v2/eventLogs', status: 200 },
  { url: '/api/v2/eventLogs/2147483647', status: 404 },
  // Changes, and the conflicts and refusals they meet.
  {
    method: 'POST',
    url: '/api/v2/dags/docs/dagRuns',
    json: { dag_run_id: 'manual_1', logical_date: '2027-01-01T00:00:00Z', conf: { a: 1 } },
    status: 200,
  },
  {
    method: 'POST',
    url: '/api/v2/dags/docs/dagRuns',
    json: { dag_run_id: 'manual_1', logical_date: null },
    status: 409,
  },
  {
    method: 'POST',
    url: '/api/v2/dags/docs/dagRuns',
    json: { dag_run_id: 'x/y', logical_date: null },
    status: 400,
  },
  { method: 'POST', url: '/api/v2/dags/docs/dagRuns', json: { conf: [] }, status: 422 },
  {
    method: 'POST',
    url: '/api/v2/dags/docs/dagRuns',
    json: { logical_date: null, note: 'x'.repeat(70_000) },
    status: 413,
  },
  {
    method: 'POST',
    url: '/api/v2/dags/missing/dagRuns',
    json: { logical_date: null },
    status: 404,
  },
  { method: 'PATCH', url: RUN, json: { note: 'looked' }, status: 200 },
  { method: 'PATCH', url: '/api/v2/dags/docs/dagRuns/nope', json: { note: 'x' }, status: 404 },
  { method: 'PATCH', url: `${RUN}?update_mask=nope`, json: { note: 'x' }, status: 422 },
  { method: 'POST', url: `${RUN}/clear`, json: { dry_run: true }, status: 200 },
  { method: 'POST', url: '/api/v2/dags/docs/dagRuns/nope/clear', json: {}, status: 404 },
  { method: 'PATCH', url: `${TI}/transform/dry_run`, json: { new_state: 'success' }, status: 200 },
  { method: 'PATCH', url: `${TI}/transform`, json: { new_state: 'success' }, status: 200 },
  { method: 'PATCH', url: `${TI}/transform`, json: { new_state: 'success' }, status: 409 },
  { method: 'PATCH', url: `${TI}/transform`, json: { new_state: 'running' }, status: 422 },
  { method: 'PATCH', url: `${TI}/nope`, json: { new_state: 'success' }, status: 404 },
  { method: 'PATCH', url: `${TI}/extract/-1`, json: { note: 'seen' }, status: 200 },
  {
    method: 'PATCH',
    url: TI,
    json: {
      actions: [
        { action: 'update', entities: [{ task_id: 'load', new_state: 'skipped' }] },
        { action: 'delete', entities: ['nope'], action_on_non_existence: 'fail' },
      ],
    },
    status: 200,
  },
  {
    method: 'POST',
    url: '/api/v2/dags/docs/clearTaskInstances',
    json: { dag_run_id: 'r1', only_failed: false },
    status: 200,
  },
  {
    method: 'POST',
    url: '/api/v2/dags/docs/clearTaskInstances',
    json: { dag_run_id: 'nope', dry_run: false },
    status: 404,
  },
  { method: 'POST', url: `${RUN}/clear`, json: { dry_run: false }, status: 200 },
  { method: 'PATCH', url: RUN, json: { state: 'failed' }, status: 200 },
  { method: 'DELETE', url: `${TI}/load`, status: 200 },
  { method: 'DELETE', url: `${TI}/load`, status: 404 },
  { method: 'PATCH', url: '/api/v2/dags/docs', json: { is_paused: true }, status: 200 },
  { method: 'PATCH', url: '/api/v2/dags/missing', json: { is_paused: true }, status: 404 },
  {
    method: 'PATCH',
    url: '/api/v2/dags/docs?update_mask=description',
    json: { is_paused: true },
    status: 400,
  },
  {
    method: 'PATCH',
    url: '/api/v2/dags?dag_id_pattern=~',
    json: { is_paused: false },
    status: 200,
  },
  { method: 'PUT', url: '/api/v2/parseDagFile/not-a-token', status: 404 },
  { method: 'DELETE', url: RUN, status: 204 },
  { method: 'DELETE', url: RUN, status: 404 },
  { method: 'DELETE', url: '/api/v2/dags/other', status: 204 },
  { method: 'DELETE', url: '/api/v2/dags/other', status: 404 },
];

describe('answers conform to the OpenAPI document the API serves', () => {
  it(`replays ${STEPS.length} requests, each answered with a documented status, content type and schema`, async () => {
    const problems: string[] = [];
    const unexpected: string[] = [];
    const reached = new Set<string>();
    for (const step of STEPS) {
      const method = step.method ?? 'GET';
      const response = await api.request(step.url, {
        method,
        json: step.json,
        headers: step.headers,
        ...(step.token !== undefined ? { token: step.token } : {}),
      });
      const answer: ObservedAnswer = await observe(method, step.url, response);
      const operation = contract.operationOf(method, step.url);
      if (!operation) problems.push(`${method} ${step.url}: reached no documented operation`);
      else reached.add(`${method} ${operation.template}`);
      const problem = contract.problem(answer);
      if (problem) problems.push(problem);
      if (answer.status !== step.status)
        unexpected.push(`${method} ${step.url}: ${answer.status} (${answer.body.slice(0, 200)})`);
    }
    expect(problems.join('\n')).toBe('');
    expect(unexpected.join('\n')).toBe('');
    // Broad: most documented operations were reached.
    expect(reached.size).toBeGreaterThanOrEqual(40);
  });

  it('the checker itself refuses an undocumented status and a body off its schema', () => {
    expect(
      contract.problem({
        method: 'GET',
        url: '/api/v2/dags/docs',
        status: 418,
        contentType: 'application/json',
        body: '{}',
      }),
    ).toMatch(/status not documented/);
    expect(
      contract.problem({
        method: 'GET',
        url: '/api/v2/dags/docs',
        status: 200,
        contentType: 'application/json',
        body: '{"dag_id": 1}',
      }),
    ).toMatch(/must/);
    expect(
      contract.problem({
        method: 'GET',
        url: '/api/v2/dags/docs',
        status: 404,
        contentType: 'application/json',
        body: '{"detail": "The DAG with dag_id: `docs` was not found"}',
      }),
    ).toBeUndefined();
  });
});
