import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  const [etl] = await seedDag(api.prisma, 'etl', [smallDag('etl')]);
  await seedDag(api.prisma, 'gone', [smallDag('gone')]);
  await api.prisma.dag.update({ where: { dagId: 'gone' }, data: { isStale: true } });
  await seedRun(api.prisma, {
    dagId: 'etl',
    runId: 'scheduled__2026-02-01',
    versionId: etl!,
    tis: [
      { taskId: 'extract', state: 'success' },
      { taskId: 'load', state: null },
    ],
  });
  await api.prisma.importError.create({
    data: { filename: '/dags/broken.json', stackTrace: 'broken.json:3:7: invalid JSON' },
  });
  const patched = await api.request('/api/v2/dags/etl', {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ is_paused: true }),
  });
  expect(patched.status).toBe(200);
});

afterAll(() => api.close());

/** A listing's page: its one array and its total. */
async function page(
  path: string,
  init?: RequestInit,
): Promise<{ items: unknown[]; total: number }> {
  const response = await api.request(path, init);
  expect(response.status).toBe(200);
  const body = (await response.json()) as Record<string, unknown>;
  const items = Object.values(body).find(Array.isArray) as unknown[];
  return { items, total: body.total_entries as number };
}

const LISTINGS = [
  '/api/v2/dags',
  '/api/v2/dags/~/dagRuns',
  '/api/v2/dags/~/dagRuns/~/taskInstances',
  '/api/v2/dags/etl/dagVersions',
  '/api/v2/dagTags',
  '/api/v2/dagWarnings?warning_type=stale%20dag',
  '/api/v2/eventLogs',
  '/api/v2/importErrors',
];

const withPage = (path: string, limit: number, offset: number) =>
  `${path}${path.includes('?') ? '&' : '?'}limit=${limit}&offset=${offset}`;

describe('total_entries of a listing', () => {
  it.each(LISTINGS)('is the same on a page past the end as on the first page: %s', async (path) => {
    const first = await page(withPage(path, 1, 0));
    expect(first.items).toHaveLength(1);
    expect(first.total).toBeGreaterThanOrEqual(1);
    const pastTheEnd = await page(withPage(path, 1, 1000));
    expect(pastTheEnd).toEqual({ items: [], total: first.total });
  });

  it.each([
    ['/api/v2/dags/~/dagRuns/list', 'dag_runs'],
    ['/api/v2/dags/~/dagRuns/~/taskInstances/list', 'task_instances'],
  ])('is the same past the end of the batch listing %s', async (path) => {
    const post = (offset: number) =>
      page(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ page_limit: 1, page_offset: offset }),
      });
    const first = await post(0);
    expect(first.items).toHaveLength(1);
    expect(await post(1000)).toEqual({ items: [], total: first.total });
  });

  it('is 0 when nothing matches', async () => {
    expect(await page('/api/v2/dags?dag_id_pattern=nothing_is_called_this')).toEqual({
      items: [],
      total: 0,
    });
    expect(await page('/api/v2/importErrors?filename_pattern=nothing_is_called_this')).toEqual({
      items: [],
      total: 0,
    });
  });
});
