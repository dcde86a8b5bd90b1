import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airflowSchemaErrors } from './testing/airflow-schemas.ts';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let versionIds: string[];

beforeAll(async () => {
  api = await startTestApi();
  versionIds = await seedDag(api.prisma, 'etl', [
    smallDag('etl'),
    smallDag('etl', { description: 'second version' }),
  ]);
  await seedRun(api.prisma, {
    dagId: 'etl',
    runId: 'scheduled__2026-02-01',
    versionId: versionIds[1]!,
    tis: [
      { taskId: 'extract', state: 'success' },
      { taskId: 'transform', state: 'failed', operator: 'empty' },
      { taskId: 'load', state: null },
    ],
  });
  await api.prisma.importError.create({
    data: { filename: '/dags/broken.json', stackTrace: 'broken.json:3:7: invalid JSON' },
  });
  const logDir = join(api.logsDir, 'etl', 'scheduled__2026-02-01', 'extract');
  mkdirSync(logDir, { recursive: true });
  writeFileSync(
    join(logDir, '1.log'),
    '[2026-02-01T10:00:00.000Z] try 1 of etl/scheduled__2026-02-01/extract: bash -c "echo hello"\nhello\ndone\n',
  );
});

afterAll(() => api.close());

/** GETs (or sends) and checks both the status and Airflow's schema for the body. */
// Response bodies are free-form JSON in tests; the schema check is what types them.

async function expectConforming(
  path: string,
  schema: string,
  init?: Parameters<TestApi['request']>[1],
  status = 200,
): Promise<any> {
  const response = await api.request(path, init);
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(status);
  expect(airflowSchemaErrors(schema, body)).toEqual([]);
  return body;
}

describe("responses conform to Airflow's published schemas", () => {
  it('the validator itself rejects a DAGResponse that lacks a required field', () => {
    expect(airflowSchemaErrors('DAGResponse', { dag_id: 'x' })).not.toEqual([]);
  });

  it('the validator resolves $refs: a DAGRunResponse with an unknown state is refused', () => {
    expect(airflowSchemaErrors('DagRunState', 'exploded')).not.toEqual([]);
  });

  it('GET /api/v2/monitor/health is a HealthInfoResponse', async () => {
    const body = await expectConforming('/api/v2/monitor/health', 'HealthInfoResponse', {
      token: null,
    });
    expect(body.metadatabase.status).toBe('healthy');
  });

  it("GET /api/v2/monitor/health calls a scheduler that never heartbeat 'unhealthy', as Airflow", async () => {
    // Airflow's test_unhealthy_scheduler_no_job; ours said null. The DAG processor runs in the
    // scheduler: it is reported with the scheduler's status (Airflow always reports it; ours
    // said null for the whole object).
    const body: any = await (await api.request('/api/v2/monitor/health', { token: null })).json();
    expect(body).toMatchObject({
      scheduler: { status: 'unhealthy', latest_scheduler_heartbeat: null },
      dag_processor: { status: 'unhealthy', latest_dag_processor_heartbeat: null },
    });
  });

  it('GET /api/v2/monitor/health reports a heartbeating scheduler, and its DAG processor, healthy', async () => {
    const job = await api.prisma.job.create({
      data: { jobType: 'SchedulerJob', state: 'running', latestHeartbeat: new Date() },
    });
    try {
      const body: any = await (await api.request('/api/v2/monitor/health', { token: null })).json();
      const heartbeat = job.latestHeartbeat.toISOString();
      expect(body).toMatchObject({
        scheduler: { status: 'healthy', latest_scheduler_heartbeat: heartbeat },
        dag_processor: { status: 'healthy', latest_dag_processor_heartbeat: heartbeat },
      });
    } finally {
      await api.prisma.job.delete({ where: { id: job.id } });
    }
  });

  it('GET /api/v2/version is a VersionInfo', async () => {
    await expectConforming('/api/v2/version', 'VersionInfo');
  });

  it('GET /api/v2/dags is a DAGCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dags', 'DAGCollectionResponse');
    expect(body.total_entries).toBe(1);
    expect(body.dags[0].tags).toEqual([{ name: 'test', dag_id: 'etl', dag_display_name: 'etl' }]);
  });

  it('GET /api/v2/dags/{dag_id} is a DAGResponse', async () => {
    await expectConforming('/api/v2/dags/etl', 'DAGResponse');
  });

  it('GET /api/v2/dags/{dag_id}/details is a DAGDetailsResponse naming the latest version', async () => {
    const body = await expectConforming('/api/v2/dags/etl/details', 'DAGDetailsResponse');
    expect(body.latest_dag_version.version_number).toBe(2);
  });

  it('GET /api/v2/dags/{dag_id}/tasks is a TaskCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dags/etl/tasks', 'TaskCollectionResponse');
    expect(body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual([
      'extract',
      'load',
      'transform',
    ]);
    expect(body.tasks[0].execution_timeout).toEqual({
      __type: 'TimeDelta',
      days: 1,
      seconds: 3600,
      microseconds: 0,
    });
  });

  it('GET /api/v2/importErrors is an ImportErrorCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/importErrors', 'ImportErrorCollectionResponse');
    expect(body.import_errors[0].filename).toBe('/dags/broken.json');
  });

  it('GET /api/v2/dags/{dag_id}/dagVersions is a DAGVersionCollectionResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/etl/dagVersions',
      'DAGVersionCollectionResponse',
    );
    expect(
      body.dag_versions.map((v: { version_number: number }) => v.version_number).sort(),
    ).toEqual([1, 2]);
  });

  it('GET /api/v2/dags/{dag_id}/dagVersions/{version_number} is a DagVersionResponse', async () => {
    const body = await expectConforming('/api/v2/dags/etl/dagVersions/1', 'DagVersionResponse');
    expect(body.id).toBe(versionIds[0]);
  });

  it('GET /api/v2/dags/{dag_id}/dagRuns is a DAGRunCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dags/etl/dagRuns', 'DAGRunCollectionResponse');
    expect(body.dag_runs[0].dag_versions[0].id).toBe(versionIds[1]);
  });

  it('GET /api/v2/dags/~/dagRuns lists the runs of every DAG', async () => {
    const body = await expectConforming('/api/v2/dags/~/dagRuns', 'DAGRunCollectionResponse');
    expect(body.total_entries).toBe(1);
  });

  it('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id} is a DAGRunResponse, reporting a scheduler run as triggered by timetable', async () => {
    const body = await expectConforming(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01',
      'DAGRunResponse',
    );
    expect(body.triggered_by).toBe('timetable');
  });

  it('POST /api/v2/dags/{dag_id}/dagRuns answers a DAGRunResponse', async () => {
    const body = await expectConforming('/api/v2/dags/etl/dagRuns', 'DAGRunResponse', {
      method: 'POST',
      json: { dag_run_id: 'schema_check', logical_date: null, conf: { a: 1 } },
    });
    expect(body).toMatchObject({
      state: 'queued',
      run_type: 'manual',
      triggered_by: 'rest_api',
      conf: { a: 1 },
    });
  });

  it('PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id} answers a DAGRunResponse', async () => {
    await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'to_patch', logical_date: null },
    });
    await expectConforming('/api/v2/dags/etl/dagRuns/to_patch', 'DAGRunResponse', {
      method: 'PATCH',
      json: { note: 'checked' },
    });
  });

  it('POST .../clear with dry_run answers a TaskInstanceCollectionResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/clear',
      'TaskInstanceCollectionResponse',
      {
        method: 'POST',
        json: { dry_run: true },
      },
    );
    expect(body.total_entries).toBe(3);
  });

  it('POST .../clear without dry_run answers a DAGRunResponse', async () => {
    await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'to_clear', logical_date: null },
    });
    const body = await expectConforming(
      '/api/v2/dags/etl/dagRuns/to_clear/clear',
      'DAGRunResponse',
      { method: 'POST', json: { dry_run: false } },
    );
    expect(body.state).toBe('queued');
  });

  it('DELETE .../dagRuns/{dag_run_id} answers 204 with no body, as Airflow', async () => {
    await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'to_delete', logical_date: null },
    });
    const response = await api.request('/api/v2/dags/etl/dagRuns/to_delete', { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
  });

  it('GET .../taskInstances is a TaskInstanceCollectionResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/taskInstances',
      'TaskInstanceCollectionResponse',
    );
    expect(body.total_entries).toBe(3);
  });

  it('GET .../taskInstances/{task_id} is a TaskInstanceResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/taskInstances/extract',
      'TaskInstanceResponse',
    );
    expect(body.operator).toBe('BashOperator');
  });

  it('GET .../logs/{try_number} is a TaskInstancesLogResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/taskInstances/extract/logs/1',
      'TaskInstancesLogResponse',
    );
    expect(body.content).toEqual([
      {
        timestamp: '2026-02-01T10:00:00.000Z',
        event: 'try 1 of etl/scheduled__2026-02-01/extract: bash -c "echo hello"',
      },
      { event: 'hello' },
      { event: 'done' },
    ]);
  });

  it('GET /api/v2/eventLogs is an EventLogCollectionResponse recording the mutations above', async () => {
    const body = await expectConforming('/api/v2/eventLogs', 'EventLogCollectionResponse');
    expect(body.event_logs.map((e: { event: string }) => e.event)).toContain('trigger_dag_run');
  });

  it('GET /api/v2/eventLogs/{event_log_id} is an EventLogResponse', async () => {
    const list = await expectConforming('/api/v2/eventLogs?limit=1', 'EventLogCollectionResponse');
    await expectConforming(
      `/api/v2/eventLogs/${list.event_logs[0].event_log_id}`,
      'EventLogResponse',
    );
  });

  it('PATCH /api/v2/dags/{dag_id} answers a DAGResponse', async () => {
    const body = await expectConforming('/api/v2/dags/etl?update_mask=is_paused', 'DAGResponse', {
      method: 'PATCH',
      json: { is_paused: true },
    });
    expect(body.is_paused).toBe(true);
  });

  it('PATCH /api/v2/dags answers a DAGCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dags?dag_id_pattern=et', 'DAGCollectionResponse', {
      method: 'PATCH',
      json: { is_paused: false },
    });
    expect(body.dags[0].is_paused).toBe(false);
  });

  it('GET /api/v2/dagTags is a DAGTagCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dagTags', 'DAGTagCollectionResponse');
    expect(body.tags).toEqual(['test']);
  });

  it('GET /api/v2/dags/{dag_id}/tasks/{task_id} is a TaskResponse', async () => {
    const body = await expectConforming('/api/v2/dags/etl/tasks/load', 'TaskResponse');
    expect(body.task_id).toBe('load');
  });

  it('GET /api/v2/importErrors/{import_error_id} is an ImportErrorResponse', async () => {
    const list = await expectConforming('/api/v2/importErrors', 'ImportErrorCollectionResponse');
    await expectConforming(
      `/api/v2/importErrors/${list.import_errors[0].import_error_id}`,
      'ImportErrorResponse',
    );
  });

  it('GET /api/v2/dagSources/{dag_id} is a DAGSourceResponse', async () => {
    const body = await expectConforming('/api/v2/dagSources/etl', 'DAGSourceResponse');
    expect(body.version_number).toBe(2);
  });

  it('GET /api/v2/dagStats is a DagStatsCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dagStats', 'DagStatsCollectionResponse');
    expect(body.dags[0].dag_id).toBe('etl');
  });

  it('GET /api/v2/dagWarnings is a DAGWarningCollectionResponse with a stale DAG present', async () => {
    await seedDag(api.prisma, 'vanished', [smallDag('vanished')]);
    await api.prisma.dag.update({ where: { dagId: 'vanished' }, data: { isStale: true } });
    // Airflow's DagWarningType has only asset and pool types: a client generated from its schema
    // refuses any other, so ours ('stale dag') is listed only when asked for.
    await expectConforming('/api/v2/dagWarnings', 'DAGWarningCollectionResponse');
    const response = await api.request('/api/v2/dagWarnings?warning_type=stale%20dag');
    const body = (await response.json()) as { dag_warnings: { warning_type: string }[] };
    expect(body.dag_warnings.map((w) => w.warning_type)).toEqual(['stale dag']);
    await api.prisma.dag.delete({ where: { dagId: 'vanished' } });
  });

  it('PUT /api/v2/parseDagFile/{file_token} answers 201 with a null body, as Airflow', async () => {
    const dag = await expectConforming('/api/v2/dags/etl', 'DAGResponse');
    const response = await api.request(`/api/v2/parseDagFile/${dag.file_token}`, {
      method: 'PUT',
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toBeNull();
  });

  it('DELETE /api/v2/dags/{dag_id} answers 204 with no body, as Airflow', async () => {
    await seedDag(api.prisma, 'to_delete', [smallDag('to_delete')]);
    const response = await api.request('/api/v2/dags/to_delete', { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
  });

  it('GET .../logs/{try_number} with Accept: application/x-ndjson answers one StructuredLogMessage per line', async () => {
    const response = await api.request(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/taskInstances/extract/logs/1',
      { headers: { accept: 'application/x-ndjson' } },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const text = await response.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual([
      {
        timestamp: '2026-02-01T10:00:00.000Z',
        event: 'try 1 of etl/scheduled__2026-02-01/extract: bash -c "echo hello"',
      },
      { event: 'hello' },
      { event: 'done' },
    ]);
    for (const line of lines) expect(airflowSchemaErrors('StructuredLogMessage', line)).toEqual([]);
  });

  it('GET .../logs/{try_number} answers 406 for a type it cannot give', async () => {
    await expectConforming(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/taskInstances/extract/logs/1',
      'HTTPExceptionResponse',
      { headers: { accept: 'text/html' } },
      406,
    );
  });

  it('a 404 is an HTTPExceptionResponse', async () => {
    await expectConforming('/api/v2/dags/nope', 'HTTPExceptionResponse', undefined, 404);
  });

  it('a 401 is an HTTPExceptionResponse', async () => {
    await expectConforming('/api/v2/dags', 'HTTPExceptionResponse', { token: null }, 401);
  });

  it('a 409 is an HTTPExceptionResponse', async () => {
    const init = { method: 'POST', json: { dag_run_id: 'twice', logical_date: null } };
    await api.request('/api/v2/dags/etl/dagRuns', init);
    await expectConforming('/api/v2/dags/etl/dagRuns', 'HTTPExceptionResponse', init, 409);
  });

  it('a 422 is an HTTPValidationError', async () => {
    await expectConforming('/api/v2/dags?limit=abc', 'HTTPValidationError', undefined, 422);
  });
});

describe("dagRuns and taskInstances operations conform to Airflow's schemas", () => {
  const run = '/api/v2/dags/etl/dagRuns/ops_run/taskInstances';

  beforeAll(async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'ops_run',
      versionId: versionIds[1]!,
      tis: [
        { taskId: 'extract', state: 'success' },
        { taskId: 'transform', state: 'failed', operator: 'empty' },
        { taskId: 'load', state: null, tryNumber: 0 },
      ],
    });
  });

  it('POST /api/v2/dags/~/dagRuns/list is a DAGRunCollectionResponse', async () => {
    const body = await expectConforming('/api/v2/dags/~/dagRuns/list', 'DAGRunCollectionResponse', {
      method: 'POST',
      json: { dag_ids: ['etl'], states: ['running'], order_by: '-run_after', page_limit: 5 },
    });
    expect(body.dag_runs.length).toBeGreaterThan(0);
  });

  it('GET .../dagRuns/{dag_run_id}/wait streams ndjson lines of the run state', async () => {
    await api.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'etl', runId: 'scheduled__2026-02-01' } },
      data: { state: 'success' },
    });
    const response = await api.request(
      '/api/v2/dags/etl/dagRuns/scheduled__2026-02-01/wait?interval=0.05',
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    expect(await response.text()).toBe('{"state":"success"}\n');
  });

  it('POST /api/v2/dags/~/dagRuns/~/taskInstances/list is a TaskInstanceCollectionResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/~/dagRuns/~/taskInstances/list',
      'TaskInstanceCollectionResponse',
      { method: 'POST', json: { dag_run_ids: ['ops_run'], state: ['failed', null] } },
    );
    expect(body.task_instances.map((ti: { task_id: string }) => ti.task_id).sort()).toEqual([
      'load',
      'transform',
    ]);
  });

  it('GET /api/v2/dags/~/dagRuns/~/taskInstances is a TaskInstanceCollectionResponse', async () => {
    const body = await expectConforming(
      '/api/v2/dags/~/dagRuns/~/taskInstances?task_id=extract',
      'TaskInstanceCollectionResponse',
    );
    // Every run's `extract`: the seeded runs' and those of the runs triggered above.
    expect(body.total_entries).toBe(
      await api.prisma.taskInstance.count({ where: { taskId: 'extract' } }),
    );
    expect(body.total_entries).toBeGreaterThan(2);
    expect(new Set(body.task_instances.map((ti: { task_id: string }) => ti.task_id))).toEqual(
      new Set(['extract']),
    );
  });

  it('PATCH .../taskInstances/{task_id}/dry_run (and /{map_index}/dry_run) is a TaskInstanceCollectionResponse', async () => {
    for (const path of [`${run}/transform/dry_run`, `${run}/transform/-1/dry_run`]) {
      const body = await expectConforming(path, 'TaskInstanceCollectionResponse', {
        method: 'PATCH',
        json: { new_state: 'success', include_downstream: true },
      });
      expect(body.task_instances.map((ti: { task_id: string }) => ti.task_id)).toEqual([
        'load',
        'transform',
      ]);
    }
  });

  it('PATCH .../taskInstances/{task_id} is a TaskInstanceCollectionResponse', async () => {
    const body = await expectConforming(`${run}/transform`, 'TaskInstanceCollectionResponse', {
      method: 'PATCH',
      json: { new_state: 'success', note: 'fixed by hand' },
    });
    expect(body.task_instances[0]).toMatchObject({ state: 'success', note: 'fixed by hand' });
  });

  it('PATCH .../taskInstances/{task_id}/{map_index} is a TaskInstanceCollectionResponse', async () => {
    const body = await expectConforming(
      `${run}/transform/-1?update_mask=note`,
      'TaskInstanceCollectionResponse',
      { method: 'PATCH', json: { note: null } },
    );
    expect(body.task_instances[0].note).toBeNull();
  });

  it('PATCH .../taskInstances (bulk) is a BulkResponse', async () => {
    const body = await expectConforming(run, 'BulkResponse', {
      method: 'PATCH',
      json: {
        actions: [
          {
            action: 'update',
            entities: [{ task_id: 'extract', note: 'bulk' }, { task_id: 'nope' }],
          },
          { action: 'create', entities: [{ task_id: 'extract' }] },
        ],
      },
    });
    expect(body.update.success).toEqual(['etl.ops_run.extract[-1]']);
    expect(body.update.errors[0].status_code).toBe(404);
    expect(body.create.errors[0].status_code).toBe(405);
    expect(body.delete).toBeNull();
  });

  it('GET .../tries and .../{map_index}/tries are TaskInstanceHistoryCollectionResponses', async () => {
    for (const path of [`${run}/extract/tries`, `${run}/extract/-1/tries`]) {
      const body = await expectConforming(path, 'TaskInstanceHistoryCollectionResponse');
      expect(body.task_instances.map((t: { try_number: number }) => t.try_number)).toEqual([1]);
    }
  });

  it('GET .../tries/{n} and .../{map_index}/tries/{n} are TaskInstanceHistoryResponses', async () => {
    for (const path of [`${run}/extract/tries/1`, `${run}/extract/-1/tries/1`])
      await expectConforming(path, 'TaskInstanceHistoryResponse');
  });

  it('GET .../dependencies and .../{map_index}/dependencies are TaskDependencyCollectionResponses', async () => {
    for (const path of [`${run}/load/dependencies`, `${run}/load/-1/dependencies`]) {
      const body = await expectConforming(path, 'TaskDependencyCollectionResponse');
      expect(body.dependencies).toEqual([]);
    }
  });

  it('GET .../taskInstances/{task_id}/{map_index} is a TaskInstanceResponse for -1 and 404 otherwise', async () => {
    await expectConforming(`${run}/extract/-1`, 'TaskInstanceResponse');
    await expectConforming(`${run}/extract/0`, 'HTTPExceptionResponse', undefined, 404);
    await expectConforming(`${run}/extract/0/tries`, 'HTTPExceptionResponse', undefined, 404);
    await expectConforming(`${run}/extract/listMapped`, 'HTTPExceptionResponse', undefined, 404);
  });

  it('POST /api/v2/dags/{dag_id}/clearTaskInstances is a TaskInstanceCollectionResponse', async () => {
    const dry = await expectConforming(
      '/api/v2/dags/etl/clearTaskInstances',
      'TaskInstanceCollectionResponse',
      { method: 'POST', json: { dag_run_id: 'ops_run', only_failed: false, task_ids: ['load'] } },
    );
    expect(dry.total_entries).toBe(1);
    const done = await expectConforming(
      '/api/v2/dags/etl/clearTaskInstances',
      'TaskInstanceCollectionResponse',
      {
        method: 'POST',
        json: { dry_run: false, dag_run_id: 'ops_run', only_failed: false, task_ids: ['extract'] },
      },
    );
    expect(done.task_instances[0]).toMatchObject({ task_id: 'extract', state: null });
  });

  it('DELETE .../taskInstances/{task_id} answers 200 with null, as Airflow', async () => {
    const response = await api.request(`${run}/load`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toBeNull();
    await expectConforming(`${run}/load`, 'HTTPExceptionResponse', { method: 'DELETE' }, 404);
  });
});
