import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  await seedDag(api.prisma, 'example_etl', [smallDag('example_etl')]);
  await seedDag(api.prisma, 'example_report', [smallDag('example_report')]);
  await seedDag(api.prisma, 'other', [smallDag('other')]);
  await seedDag(api.prisma, 'gone', [smallDag('gone')]);
  await api.prisma.dag.update({ where: { dagId: 'gone' }, data: { isStale: true } });
});

afterAll(() => api.close());

// Response bodies are free-form JSON in tests.

async function json(path: string, init?: Parameters<TestApi['request']>[1]): Promise<any> {
  const response = await api.request(path, init);
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

const ids = (dags: { dag_id: string }[]) => dags.map((dag) => dag.dag_id);

describe('dag_id_pattern', () => {
  it('matches a substring case-insensitively, as Airflow: ETL finds example_etl', async () => {
    const { body } = await json('/api/v2/dags?dag_id_pattern=ETL');
    expect(ids(body.dags)).toEqual(['example_etl']);
  });

  it('keeps % and _ as wildcards inside the value', async () => {
    const { body } = await json('/api/v2/dags?dag_id_pattern=ex%25_r');
    expect(ids(body.dags)).toEqual(['example_report']);
  });

  it('takes ~ as everything, as Airflow aliases it to %', async () => {
    const all = (await json('/api/v2/dags')).body.total_entries;
    expect(all).toBeGreaterThan(0);
    expect((await json('/api/v2/dags?dag_id_pattern=~')).body.total_entries).toBe(all);
    expect((await json('/api/v2/dags/~/dagRuns?run_id_pattern=~')).status).toBe(200);
  });
});

describe('GET /dags statement', () => {
  it("reads each DAG's latest run only when a filter or the order needs it", async () => {
    const sent = async (path: string) => {
      const before = api.statements.length;
      expect((await api.request(path)).status).toBe(200);
      return api.statements.slice(before).join('\n');
    };
    expect(await sent('/api/v2/dags?limit=50')).not.toMatch(/LATERAL/i);
    expect(await sent('/api/v2/dags?order_by=last_run_state')).toMatch(/LATERAL/i);
    expect(await sent('/api/v2/dags?last_dag_run_state=success')).toMatch(/LATERAL/i);
  });
});

describe('PATCH /dags/{dag_id}', () => {
  it('pauses and unpauses a DAG, answering it as it is now', async () => {
    const paused = await json('/api/v2/dags/other', { method: 'PATCH', json: { is_paused: true } });
    expect(paused.status).toBe(200);
    expect(paused.body.is_paused).toBe(true);
    expect((await json('/api/v2/dags/other')).body.is_paused).toBe(true);
    const resumed = await json('/api/v2/dags/other?update_mask=is_paused', {
      method: 'PATCH',
      json: { is_paused: false },
    });
    expect(resumed.body.is_paused).toBe(false);
  });

  it('refuses an update_mask naming anything but is_paused with 400', async () => {
    const { status, body } = await json('/api/v2/dags/other?update_mask=description', {
      method: 'PATCH',
      json: { is_paused: true },
    });
    expect(status).toBe(400);
    expect(body.detail).toBe('Only `is_paused` field can be updated through the REST API');
  });

  it('answers 422 for a body without is_paused or with another field', async () => {
    expect((await json('/api/v2/dags/other', { method: 'PATCH', json: {} })).status).toBe(422);
    const extra = await json('/api/v2/dags/other', {
      method: 'PATCH',
      json: { is_paused: true, description: 'x' },
    });
    expect(extra.status).toBe(422);
  });

  it('answers 404 for a DAG that does not exist', async () => {
    const { status, body } = await json('/api/v2/dags/nope', {
      method: 'PATCH',
      json: { is_paused: true },
    });
    expect(status).toBe(404);
    expect(body.detail).toBe('Dag with id: nope was not found');
  });
});

describe('PATCH /dags (bulk)', () => {
  it('pauses every DAG the pattern selects and answers them', async () => {
    const { status, body } = await json('/api/v2/dags?dag_id_pattern=example', {
      method: 'PATCH',
      json: { is_paused: true },
    });
    expect(status).toBe(200);
    expect(body.total_entries).toBe(2);
    expect(body.dags.map((d: { is_paused: boolean }) => d.is_paused)).toEqual([true, true]);
    expect((await json('/api/v2/dags/other')).body.is_paused).toBe(false);
  });

  it('selects nothing without dag_id_pattern, as Airflow, and everything with ~', async () => {
    const none = await json('/api/v2/dags', { method: 'PATCH', json: { is_paused: false } });
    expect(none.body).toEqual({ dags: [], total_entries: 0 });
    expect((await json('/api/v2/dags/example_etl')).body.is_paused).toBe(true);
    const all = await json('/api/v2/dags?dag_id_pattern=~', {
      method: 'PATCH',
      json: { is_paused: false },
    });
    expect(ids(all.body.dags)).toEqual(['example_etl', 'example_report', 'other']);
    expect((await json('/api/v2/dags?paused=true')).body.total_entries).toBe(0);
  });

  it('changes nothing for an owners filter, which no DAG here matches, instead of ignoring it', async () => {
    const before = await api.prisma.dag.findMany({
      select: { dagId: true, isPaused: true },
      orderBy: { dagId: 'asc' },
    });
    const { status, body } = await json('/api/v2/dags?dag_id_pattern=~&owners=alice', {
      method: 'PATCH',
      json: { is_paused: !before[0]!.isPaused },
    });
    expect(status).toBe(200);
    expect(body.total_entries).toBe(0);
    expect(
      await api.prisma.dag.findMany({
        select: { dagId: true, isPaused: true },
        orderBy: { dagId: 'asc' },
      }),
    ).toEqual(before);
  });

  it('applies the listing filters: only the paused ones among the selected', async () => {
    await json('/api/v2/dags/other', { method: 'PATCH', json: { is_paused: true } });
    const { body } = await json('/api/v2/dags?dag_id_pattern=~&paused=true', {
      method: 'PATCH',
      json: { is_paused: false },
    });
    expect(ids(body.dags)).toEqual(['other']);
  });
});

describe('DELETE /dags/{dag_id}', () => {
  it('deletes the DAG with its versions, runs and their logs, and answers 204', async () => {
    const [versionId] = await seedDag(api.prisma, 'doomed', [smallDag('doomed')]);
    await seedRun(api.prisma, {
      dagId: 'doomed',
      runId: 'done',
      versionId: versionId!,
      state: 'success',
      tis: [{ taskId: 'extract', state: 'success' }],
    });
    const logDir = join(api.logsDir, 'doomed', 'done', 'extract');
    mkdirSync(logDir, { recursive: true });
    writeFileSync(join(logDir, '1.log'), 'old run\n');
    const response = await api.request('/api/v2/dags/doomed', { method: 'DELETE' });
    expect(response.status).toBe(204);
    // A run re-created under that id must not show the deleted run's log.
    expect(existsSync(join(api.logsDir, 'doomed', 'done'))).toBe(false);
    expect((await json('/api/v2/dags/doomed')).status).toBe(404);
    expect(await api.prisma.dagRun.count({ where: { dagId: 'doomed' } })).toBe(0);
    expect(await api.prisma.dagVersion.count({ where: { dagId: 'doomed' } })).toBe(0);
  });

  it('asks the processor to parse the file again, so the DAG returns while its file is there', async () => {
    await seedDag(api.prisma, 'returns', [smallDag('returns')]);
    await api.request('/api/v2/dags/returns', { method: 'DELETE' });
    const requests = await api.prisma.dagPriorityParsingRequest.findMany({
      where: { fileloc: '/dags/returns.json' },
    });
    expect(requests).toHaveLength(1);
  });

  it('answers 409 while one of its runs is running, and deletes nothing', async () => {
    const [versionId] = await seedDag(api.prisma, 'busy', [smallDag('busy')]);
    await seedRun(api.prisma, {
      dagId: 'busy',
      runId: 'now',
      versionId: versionId!,
      state: 'running',
      tis: [{ taskId: 'extract', state: 'running' }],
    });
    const { status, body } = await json('/api/v2/dags/busy', { method: 'DELETE' });
    expect(status).toBe(409);
    expect(body.detail).toBe("Task instances of dag with id: 'busy' are still running");
    expect(await api.prisma.dagRun.count({ where: { dagId: 'busy' } })).toBe(1);
  });

  it('answers 404 for a DAG that does not exist', async () => {
    expect((await json('/api/v2/dags/nope', { method: 'DELETE' })).status).toBe(404);
  });
});

describe('GET /dags/{dag_id}/tasks/{task_id}', () => {
  it('answers one task of the latest version', async () => {
    const { status, body } = await json('/api/v2/dags/example_etl/tasks/transform');
    expect(status).toBe(200);
    expect(body).toMatchObject({ task_id: 'transform', downstream_task_ids: ['load'] });
  });

  it('answers 404 for a task the DAG does not have, and for a DAG that does not exist', async () => {
    expect((await json('/api/v2/dags/example_etl/tasks/nope')).status).toBe(404);
    expect((await json('/api/v2/dags/nope/tasks/extract')).status).toBe(404);
  });
});

describe('GET /dags/{dag_id}/details', () => {
  it("names the DAG's time zone and is_paused_upon_creation from its latest version", async () => {
    await seedDag(api.prisma, 'amsterdam', [
      smallDag('amsterdam'),
      smallDag('amsterdam', { timezone: 'Europe/Amsterdam', is_paused_upon_creation: true }),
    ]);
    const { body } = await json('/api/v2/dags/amsterdam/details');
    expect(body).toMatchObject({
      timezone: 'Europe/Amsterdam',
      is_paused_upon_creation: true,
      latest_dag_version: { version_number: 2, dag_id: 'amsterdam' },
    });
  });

  it('says UTC and null for a DAG that names neither', async () => {
    const { body } = await json('/api/v2/dags/example_etl/details');
    expect(body).toMatchObject({ timezone: 'UTC', is_paused_upon_creation: null });
  });
});

describe('bundle_name', () => {
  it("is the DAGs folder's bundle, dags-folder, for DAGs and their versions as for import errors", async () => {
    // Before, null here while GET /importErrors answered the processor's dags-folder.
    const listed = (await json('/api/v2/dags')).body.dags as { bundle_name: unknown }[];
    expect(new Set(listed.map((dag) => dag.bundle_name))).toEqual(new Set(['dags-folder']));
    expect((await json('/api/v2/dags/example_etl')).body.bundle_name).toBe('dags-folder');
    expect((await json('/api/v2/dags/example_etl/details')).body.bundle_name).toBe('dags-folder');
    const versions = (await json('/api/v2/dags/example_etl/dagVersions')).body.dag_versions;
    expect(versions.map((version: { bundle_name: unknown }) => version.bundle_name)).toEqual([
      'dags-folder',
    ]);
    const version = await json('/api/v2/dags/example_etl/dagVersions/1');
    expect(version.body.bundle_name).toBe('dags-folder');
  });

  it("dagVersions' bundle_name selects all with dags-folder, none with another; bundle_version none", async () => {
    // Ignored before: every value answered every version.
    const versions = (query: string) =>
      json(`/api/v2/dags/example_etl/dagVersions?${query}`).then(({ body }) => body.total_entries);
    expect(await versions('bundle_name=dags-folder')).toBe(1);
    expect(await versions('bundle_name=another-bundle')).toBe(0);
    expect(await versions('bundle_version=1')).toBe(0);
    expect((await json('/api/v2/dags/nope/dagVersions?bundle_version=1')).status).toBe(404);
  });
});

describe('GET /dags/~/dagVersions', () => {
  it('lists the versions of every DAG, as Airflow does for ~', async () => {
    const { status, body } = await json('/api/v2/dags/~/dagVersions?limit=1000&version_number=1');
    expect(status).toBe(200);
    const dagIds = new Set(body.dag_versions.map((version: { dag_id: string }) => version.dag_id));
    for (const dagId of ['example_report', 'other']) expect(dagIds).toContain(dagId);
    expect(body.total_entries).toBe(
      await api.prisma.dagVersion.count({ where: { versionNumber: 1 } }),
    );
    expect((await json('/api/v2/dags/~/dagVersions?bundle_version=1')).body.total_entries).toBe(0);
  });

  it("orders every DAG's versions by creation by default and accepts Airflow's bundle keys", async () => {
    // Airflow orders by id, a UUIDv7: creation order across DAGs. Ours ordered by version number,
    // so a DAG's second version came after every other DAG's first, whenever that was made; and
    // order_by=bundle_name or bundle_version was 400.
    await seedDag(api.prisma, 'made_first', [smallDag('made_first'), smallDag('made_first')]);
    await seedDag(api.prisma, 'made_last', [smallDag('made_last')]);
    const order = async (query: string) => {
      const { status, body } = await json(`/api/v2/dags/~/dagVersions?limit=1000${query}`);
      expect(status, query).toBe(200);
      return body.dag_versions
        .filter((v: any) => v.dag_id.startsWith('made_'))
        .map((v: any) => `${v.dag_id}.${v.version_number}`);
    };
    const created = ['made_first.1', 'made_first.2', 'made_last.1'];
    expect(await order('')).toEqual(created);
    expect(await order('&order_by=id')).toEqual(created);
    expect(await order('&order_by=bundle_name')).toEqual(created);
    expect(await order('&order_by=-bundle_version')).toEqual([...created].reverse());
  });
});

describe('GET /importErrors', () => {
  it("filters by Airflow's filename_pattern, with totals of the filtered list", async () => {
    // Airflow's get_import_errors takes filename_pattern; ours ignored it and listed every error.
    await api.prisma.importError.createMany({
      data: ['team_a/load.json', 'team_a/report.yaml', 'team_b/load.json'].map((filename) => ({
        filename,
        stackTrace: `${filename}:1:1: invalid`,
      })),
    });
    const files = async (pattern: string) => {
      const { status, body } = await json(
        `/api/v2/importErrors?limit=1&filename_pattern=${encodeURIComponent(pattern)}`,
      );
      expect(status, pattern).toBe(200);
      return [body.total_entries, body.import_errors.map((e: any) => e.filename)];
    };
    expect(await files('TEAM_A/')).toEqual([2, ['team_a/load.json']]);
    expect(await files('team_%/load')).toEqual([2, ['team_a/load.json']]);
    expect(await files('nothing')).toEqual([0, []]);
    expect((await files('~'))[0]).toBe(await api.prisma.importError.count());
  });
});

describe('GET /importErrors/{import_error_id}', () => {
  it('answers one import error, and 404 for an id that does not exist', async () => {
    const error = await api.prisma.importError.create({
      data: { filename: 'broken.json', stackTrace: 'broken.json:1:1: invalid JSON' },
    });
    const { body } = await json(`/api/v2/importErrors/${error.id}`);
    expect(body).toMatchObject({ import_error_id: error.id, filename: 'broken.json' });
    expect((await json('/api/v2/importErrors/2147483647')).status).toBe(404);
  });
});

describe('GET /dagSources/{dag_id}', () => {
  it('answers the text stored with the latest version, or with version_number, as JSON or text/plain', async () => {
    const [v1, v2] = await seedDag(api.prisma, 'sourced', [
      smallDag('sourced'),
      smallDag('sourced', { description: 'second' }),
    ]);
    for (const [versionId, text] of [
      [v1!, '{"dag_id": "sourced"} // first'],
      [v2!, '{"dag_id": "sourced"} // second'],
    ] as const) {
      await api.prisma.dagCode.create({
        data: {
          dagVersionId: versionId,
          dagId: 'sourced',
          fileloc: '/dags/sourced.json',
          sourceCode: text,
          sourceCodeHash: 'x',
        },
      });
    }
    const latest = await json('/api/v2/dagSources/sourced');
    expect(latest.body).toEqual({
      content: '{"dag_id": "sourced"} // second',
      dag_id: 'sourced',
      version_number: 2,
      dag_display_name: 'sourced',
    });
    expect((await json('/api/v2/dagSources/sourced?version_number=1')).body.content).toBe(
      '{"dag_id": "sourced"} // first',
    );
    const text = await api.request('/api/v2/dagSources/sourced', {
      headers: { accept: 'text/plain' },
    });
    expect(text.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await text.text()).toBe('{"dag_id": "sourced"} // second');
  });

  it('answers 404 for a version that does not exist and 406 for a type it cannot give', async () => {
    expect((await json('/api/v2/dagSources/sourced?version_number=9')).status).toBe(404);
    expect((await json('/api/v2/dagSources/nope')).status).toBe(404);
    const xml = await api.request('/api/v2/dagSources/sourced', {
      headers: { accept: 'application/xml' },
    });
    expect(xml.status).toBe(406);
  });
});

describe('GET /dagStats', () => {
  it('counts the runs of each DAG per state, zeros included', async () => {
    const [versionId] = await seedDag(api.prisma, 'counted', [smallDag('counted')]);
    for (const [runId, state] of [
      ['a', 'success'],
      ['b', 'success'],
      ['c', 'failed'],
    ] as const)
      await seedRun(api.prisma, { dagId: 'counted', runId, versionId: versionId!, state });
    const { body } = await json('/api/v2/dagStats?dag_ids=counted');
    expect(body).toEqual({
      dags: [
        {
          dag_id: 'counted',
          dag_display_name: 'counted',
          stats: [
            { state: 'queued', count: 0 },
            { state: 'running', count: 0 },
            { state: 'success', count: 2 },
            { state: 'failed', count: 1 },
          ],
        },
      ],
      total_entries: 1,
    });
  });
});

describe('GET /dagWarnings', () => {
  it('warns about a DAG whose file vanished when asked for stale dag warnings', async () => {
    const { body } = await json('/api/v2/dagWarnings?warning_type=stale%20dag');
    expect(body.total_entries).toBe(1);
    expect(body.dag_warnings[0]).toMatchObject({ dag_id: 'gone', warning_type: 'stale dag' });
    expect(body.dag_warnings[0].message).toContain('/dags/gone.json');
  });

  it("lists only Airflow's warning types unless asked, so Airflow's clients can read the list", async () => {
    const { body } = await json('/api/v2/dagWarnings');
    expect(body).toEqual({ dag_warnings: [], total_entries: 0 });
    expect((await json('/api/v2/dags/gone')).body.is_stale).toBe(true);
  });

  it('has nothing of the types this system cannot have', async () => {
    const { body } = await json('/api/v2/dagWarnings?warning_type=non-existent%20pool');
    expect(body).toEqual({ dag_warnings: [], total_entries: 0 });
  });
});

describe('PUT /parseDagFile/{file_token}', () => {
  it("files a parse request for the DAG's file and answers 201", async () => {
    const dag = (await json('/api/v2/dags/example_etl')).body;
    const response = await api.request(`/api/v2/parseDagFile/${dag.file_token}`, {
      method: 'PUT',
    });
    expect(response.status).toBe(201);
    const requests = await api.prisma.dagPriorityParsingRequest.findMany({
      where: { fileloc: dag.fileloc },
    });
    expect(requests).toHaveLength(1);
  });

  it('answers 404 for a token that names no DAG file', async () => {
    const token = Buffer.from('/etc/passwd').toString('base64url');
    const { status, body } = await json(`/api/v2/parseDagFile/${token}`, { method: 'PUT' });
    expect(status).toBe(404);
    expect(body.detail).toBe('File not found');
    expect((await json('/api/v2/parseDagFile/%E2%9C%93', { method: 'PUT' })).status).toBe(404);
  });
});

describe('GET /dagTags', () => {
  it('lists the distinct tags, filtered by tag_name_pattern', async () => {
    await seedDag(api.prisma, 'tagged', [smallDag('tagged', { tags: ['Finance', 'daily'] })]);
    await api.prisma.dag.update({
      where: { dagId: 'tagged' },
      data: { tags: ['Finance', 'daily'] },
    });
    const all = await json('/api/v2/dagTags');
    expect(all.body.tags).toEqual(expect.arrayContaining(['Finance', 'daily', 'test']));
    const some = await json('/api/v2/dagTags?tag_name_pattern=fin');
    expect(some.body).toEqual({ tags: ['Finance'], total_entries: 1 });
  });
});

describe('families this system does not have', () => {
  it('answer 404 like any unknown path', async () => {
    for (const path of [
      '/api/v2/pools',
      '/api/v2/variables',
      '/api/v2/connections',
      '/api/v2/assets',
      '/api/v2/backfills',
      '/api/v2/config',
      '/api/v2/dagReports',
      '/api/v2/dags/example_etl/favorite',
      '/api/v2/dags/example_etl/dagRuns/x/taskInstances/extract/xcomEntries/some_key',
    ]) {
      expect((await api.request(path)).status, path).toBe(404);
    }
  });
});

describe("GET /dags: Airflow's other listing parameters", () => {
  it('dag_display_name_pattern matches like dag_id_pattern (the display name is the dag_id)', async () => {
    const { body } = await json('/api/v2/dags?dag_display_name_pattern=REPORT');
    expect(ids(body.dags)).toEqual(['example_report']);
  });

  it('has_import_errors selects DAGs whose file has an import error', async () => {
    await seedDag(api.prisma, 'half_broken', [smallDag('half_broken')], {
      fileloc: '/dags/half_broken.json',
    });
    await api.prisma.importError.create({
      data: { filename: '/dags/half_broken.json', stackTrace: 'half_broken.json:2:1: oops' },
    });
    expect(ids((await json('/api/v2/dags?has_import_errors=true')).body.dags)).toEqual([
      'half_broken',
    ]);
    expect(ids((await json('/api/v2/dags?has_import_errors=false')).body.dags)).not.toContain(
      'half_broken',
    );
  });

  it('last_dag_run_state filters and last_run_state orders by the latest run', async () => {
    const [versionId] = await seedDag(api.prisma, 'last_failed', [smallDag('last_failed')]);
    await seedRun(api.prisma, {
      dagId: 'last_failed',
      runId: 'f',
      versionId: versionId!,
      state: 'failed',
    });
    const { body } = await json('/api/v2/dags?last_dag_run_state=failed&dag_id_pattern=last_');
    expect(ids(body.dags)).toEqual(['last_failed']);
    expect((await json('/api/v2/dags?last_dag_run_state=exploded')).status).toBe(422);
    const ordered = await json('/api/v2/dags?order_by=last_run_state&order_by=dag_id&limit=1');
    expect(ordered.status).toBe(200);
    expect((await json('/api/v2/dags?order_by=-next_dagrun')).status).toBe(200);
  });

  it('owners, bundle_name, has_asset_schedule, asset_dependency and is_favorite select nothing here', async () => {
    // Ignored before: each answered every DAG.
    for (const filter of [
      'owners=airflow',
      'bundle_name=another-bundle',
      'bundle_version=1',
      'has_asset_schedule=true',
      'asset_dependency=s3%3A%2F%2Fbucket',
      'is_favorite=true',
    ]) {
      const { status, body } = await json(`/api/v2/dags?${filter}`);
      expect([status, body], filter).toEqual([200, { dags: [], total_entries: 0 }]);
    }
    const all = (await json('/api/v2/dags')).body.total_entries;
    expect(all).toBeGreaterThan(0);
    for (const filter of [
      'has_asset_schedule=false',
      'is_favorite=false',
      'bundle_name=dags-folder',
    ]) {
      expect((await json(`/api/v2/dags?${filter}`)).body.total_entries, filter).toBe(all);
    }
    expect((await json('/api/v2/dags?is_favorite=perhaps')).status).toBe(422);
  });

  it('dag_run_state and dag_run_start_date_* select DAGs having such a run', async () => {
    const failed = await json('/api/v2/dags?dag_run_state=failed&dag_id_pattern=last_');
    expect(ids(failed.body.dags)).toEqual(['last_failed']);
    const queued = await json('/api/v2/dags?dag_run_state=queued&dag_id_pattern=last_');
    expect(queued.body.total_entries).toBe(0);
    // seedRun starts its runs at 2026-02-01T10:00:00Z.
    const before = await json(
      '/api/v2/dags?dag_run_start_date_lt=2026-02-01T09:00:00Z&dag_id_pattern=last_',
    );
    expect(before.body.total_entries).toBe(0);
    const after = await json(
      '/api/v2/dags?dag_run_start_date_gte=2026-02-01T09:00:00Z&dag_id_pattern=last_',
    );
    expect(ids(after.body.dags)).toEqual(['last_failed']);
  });
});
