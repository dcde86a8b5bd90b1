/**
 * The DAGResponse is built by PostgreSQL (DAG_RESPONSE_JSON in @dagbag/db) and sent as it comes.
 * These tests hold it to the answer of the serializer it replaced (kept below as the reference),
 * field by field, for a DAG with every field set and one with every nullable field null.
 */
import { createApiQueries, type DagRow } from '@dagbag/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/harness.ts';

const iso = (date: Date | null | undefined): string | null => (date ? date.toISOString() : null);

/** The API's serializer before the DAGResponse moved into SQL (commit c27e942), verbatim. */
function previousDagResponse(dag: DagRow) {
  return {
    dag_id: dag.dagId,
    dag_display_name: dag.dagId,
    is_paused: dag.isPaused,
    is_stale: dag.isStale,
    last_parsed_time: iso(dag.lastParsedTime),
    last_expired: null,
    bundle_name: null,
    bundle_version: null,
    relative_fileloc: dag.relativeFileloc,
    fileloc: dag.fileloc ?? '',
    description: dag.description,
    timetable_summary: dag.timetableSummary,
    timetable_description: null,
    tags: dag.tags.map((name) => ({ name, dag_id: dag.dagId, dag_display_name: dag.dagId })),
    max_active_tasks: dag.maxActiveTasks,
    max_active_runs: dag.maxActiveRuns,
    max_consecutive_failed_dag_runs: 0,
    has_task_concurrency_limits: false,
    has_import_errors: dag.hasImportErrors,
    next_dagrun_logical_date: iso(dag.nextDagrunLogicalDate),
    next_dagrun_data_interval_start: iso(dag.nextDagrunDataIntervalStart),
    next_dagrun_data_interval_end: iso(dag.nextDagrunDataIntervalEnd),
    next_dagrun_run_after: iso(dag.nextDagrunCreateAfter),
    owners: [],
    file_token: Buffer.from(dag.fileloc ?? dag.dagId, 'utf8').toString('base64url'),
  };
}

let api: TestApi;

// A path long enough that PostgreSQL's base64 wraps it (76 characters a line), with multi-byte
// characters; text with quotes, a backslash, control characters and non-BMP characters.
const FULL = 'full_ünïcode_dag';
const FILELOC = `/opt/dags/${'sub-folder/'.repeat(8)}ünïcode 😀 "quoted"\\file.json`;

beforeAll(async () => {
  api = await startTestApi();
  await api.prisma.$executeRaw`
    INSERT INTO dag (dag_id, is_paused, is_stale, last_parsed_time, fileloc, relative_fileloc,
                     description, timetable_summary, tags, max_active_runs, max_active_tasks,
                     catchup, start_date, next_dagrun_logical_date, next_dagrun_data_interval_start,
                     next_dagrun_data_interval_end, next_dagrun_create_after)
    VALUES (${FULL}, true, false, '2026-03-04 05:06:07.891999+00', ${FILELOC},
            'sub-folder/file.json', ${'Line one\nline "two"\t\\ \u0001 😀 </script>'}, '0 * * * *',
            ARRAY['b "quoted"', 'a', 'ünï 😀'], 3, 7, true, '2020-01-01 00:00:00+00',
            '2026-03-04 06:00:00.000001+00', '2026-03-04 05:00:00.5+02', '2026-03-04 06:00:00+00',
            '1999-12-31 23:59:59.999999+00')`;
  await api.prisma.$executeRaw`INSERT INTO dag (dag_id) VALUES ('bare')`;
  await api.prisma.importError.create({ data: { filename: FILELOC, stackTrace: 'broken' } });
});

afterAll(() => api.close());

async function expected(dagId: string) {
  const row = await createApiQueries(api.prisma).getDag(dagId);
  if (!row) throw new Error(`no DAG ${dagId}`);
  return previousDagResponse(row);
}

async function get(path: string): Promise<any> {
  const response = await api.request(path);
  expect(response.status).toBe(200);
  return response.json();
}

describe('the DAGResponse built by PostgreSQL', () => {
  it('equals the previous serializer field by field for a DAG with every field set', async () => {
    const want = await expected(FULL);
    expect(want.has_import_errors).toBe(true);
    expect(want.description).toContain('😀');
    const got = await get(`/api/v2/dags/${encodeURIComponent(FULL)}`);
    expect(Object.keys(got)).toEqual(Object.keys(want));
    for (const key of Object.keys(want))
      expect([key, got[key]]).toEqual([key, want[key as 'dag_id']]);
  });

  it('equals the previous serializer field by field for a DAG whose nullable fields are null', async () => {
    const want = await expected('bare');
    expect(want.fileloc).toBe('');
    expect(want.last_parsed_time).toBeNull();
    const got = await get('/api/v2/dags/bare');
    expect(Object.keys(got)).toEqual(Object.keys(want));
    for (const key of Object.keys(want))
      expect([key, got[key]]).toEqual([key, want[key as 'dag_id']]);
  });

  it('is the same in the listing, the PATCH answers and the details', async () => {
    const full = await expected(FULL);
    const bare = await expected('bare');
    expect(await get('/api/v2/dags?order_by=-dag_id')).toEqual({
      dags: [full, bare],
      total_entries: 2,
    });
    const patched = await api.request('/api/v2/dags/bare', {
      method: 'PATCH',
      json: { is_paused: true },
    });
    expect(await patched.json()).toEqual({ ...bare, is_paused: true });
    const bulk = await api.request('/api/v2/dags?dag_id_pattern=~', {
      method: 'PATCH',
      json: { is_paused: false },
    });
    expect(await bulk.json()).toEqual({
      dags: [
        { ...bare, is_paused: false },
        { ...full, is_paused: false },
      ],
      total_entries: 2,
    });
    const details = await get(`/api/v2/dags/${encodeURIComponent(FULL)}/details`);
    expect(details).toMatchObject({
      ...full,
      is_paused: false,
      last_parsed: full.last_parsed_time,
      concurrency: 7,
      catchup: true,
      start_date: '2020-01-01T00:00:00.000Z',
    });
  });
});
