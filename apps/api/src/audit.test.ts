/**
 * Every mutating route writes its audit event in the change's own transaction: when the event
 * cannot be written the route answers an error and nothing changed, so a client may retry. (An
 * event written after the commit failed under a burst with DATABASE_POOL_MAX=1, its wait for the
 * pool timing out: 503 for a change that was made.) The trigger's case is in dag-runs.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  seedDag,
  seedRun,
  smallDag,
  startTestApi,
  whileEventRefused,
  type TestApi,
} from './testing/harness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(() => api.close());

/** A DAG of its own for one test, with one run of the given run and task states. */
async function dagWithRun(
  dagId: string,
  runState: string,
  states: { extract: string | null; transform: string | null; load: string | null },
): Promise<void> {
  const [versionId] = await seedDag(api.prisma, dagId, [smallDag(dagId)]);
  await seedRun(api.prisma, {
    dagId,
    runId: 'r1',
    versionId: versionId!,
    state: runState,
    tis: Object.entries(states).map(([taskId, state]) => ({
      taskId,
      state,
      tryNumber: state === null ? 0 : 1,
    })),
  });
}

/** What a change could touch: the DAG, its runs and their task instances, as stored. */
async function stateOf(dagId: string) {
  return {
    dag: await api.prisma.dag.findUnique({ where: { dagId } }),
    runs: await api.prisma.dagRun.findMany({ where: { dagId }, orderBy: { runId: 'asc' } }),
    instances: await api.prisma.taskInstance.findMany({
      where: { dagId },
      orderBy: [{ runId: 'asc' }, { taskId: 'asc' }],
    }),
  };
}

/** Asks `path` while `event` is refused: the answer is an error and the DAG's state unchanged. */
async function expectNoChange(
  dagId: string,
  event: string,
  path: string,
  init: { method: string; json?: unknown },
): Promise<void> {
  const before = await stateOf(dagId);
  const response = await whileEventRefused(api.prisma, event, () => api.request(path, init));
  expect(response.status).toBeGreaterThanOrEqual(500);
  expect(await stateOf(dagId)).toEqual(before);
  expect(await api.prisma.eventLog.count({ where: { event } })).toBe(0);
}

describe('a route whose audit event cannot be written answers an error and changes nothing', () => {
  it('PATCH /dags/{dag_id} leaves the DAG unpaused', async () => {
    await dagWithRun('audit_patch_dag', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    await expectNoChange('audit_patch_dag', 'patch_dag', '/api/v2/dags/audit_patch_dag', {
      method: 'PATCH',
      json: { is_paused: true },
    });
  });

  it('PATCH /dags leaves the matched DAGs unpaused', async () => {
    await dagWithRun('audit_patch_dags', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    await expectNoChange(
      'audit_patch_dags',
      'patch_dags',
      '/api/v2/dags?dag_id_pattern=audit_patch_dags',
      { method: 'PATCH', json: { is_paused: true } },
    );
  });

  it('DELETE /dags/{dag_id} leaves the DAG and its runs', async () => {
    await dagWithRun('audit_delete_dag', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    await expectNoChange('audit_delete_dag', 'delete_dag', '/api/v2/dags/audit_delete_dag', {
      method: 'DELETE',
    });
    expect(
      await api.prisma.dagPriorityParsingRequest.count({
        where: { fileloc: '/dags/audit_delete_dag.json' },
      }),
    ).toBe(0);
  });

  it('PATCH of a run leaves its state and its task instances', async () => {
    await dagWithRun('audit_patch_run', 'running', {
      extract: 'success',
      transform: 'running',
      load: null,
    });
    await expectNoChange(
      'audit_patch_run',
      'patch_dag_run',
      '/api/v2/dags/audit_patch_run/dagRuns/r1',
      { method: 'PATCH', json: { state: 'failed', note: 'stopped' } },
    );
  });

  it('DELETE of a run leaves the run and its task instances', async () => {
    await dagWithRun('audit_delete_run', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    await expectNoChange(
      'audit_delete_run',
      'delete_dag_run',
      '/api/v2/dags/audit_delete_run/dagRuns/r1',
      { method: 'DELETE' },
    );
  });

  it('clearing a run leaves its state, clear number and task instances', async () => {
    await dagWithRun('audit_clear_run', 'failed', {
      extract: 'success',
      transform: 'failed',
      load: 'upstream_failed',
    });
    await expectNoChange(
      'audit_clear_run',
      'clear_dag_run',
      '/api/v2/dags/audit_clear_run/dagRuns/r1/clear',
      { method: 'POST', json: { dry_run: false } },
    );
  });

  it('POST clearTaskInstances leaves the task instances and their run', async () => {
    await dagWithRun('audit_clear_tis', 'failed', {
      extract: 'failed',
      transform: 'upstream_failed',
      load: 'upstream_failed',
    });
    await expectNoChange(
      'audit_clear_tis',
      'post_clear_task_instances',
      '/api/v2/dags/audit_clear_tis/clearTaskInstances',
      { method: 'POST', json: { dry_run: false, dag_run_id: 'r1', reset_dag_runs: true } },
    );
  });

  it('PATCH of a task instance leaves its state, its note and its downstream', async () => {
    await dagWithRun('audit_patch_ti', 'failed', {
      extract: 'failed',
      transform: 'upstream_failed',
      load: 'upstream_failed',
    });
    await expectNoChange(
      'audit_patch_ti',
      'patch_task_instance',
      '/api/v2/dags/audit_patch_ti/dagRuns/r1/taskInstances/extract',
      { method: 'PATCH', json: { new_state: 'success', note: 'fixed by hand' } },
    );
  });

  it('DELETE of a task instance leaves it', async () => {
    await dagWithRun('audit_delete_ti', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    await expectNoChange(
      'audit_delete_ti',
      'delete_task_instance',
      '/api/v2/dags/audit_delete_ti/dagRuns/r1/taskInstances/load',
      { method: 'DELETE' },
    );
  });

  it('bulk PATCH of task instances leaves the instance it could not record', async () => {
    await dagWithRun('audit_bulk_ti', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    await expectNoChange(
      'audit_bulk_ti',
      'bulk_task_instances',
      '/api/v2/dags/audit_bulk_ti/dagRuns/r1/taskInstances',
      {
        method: 'PATCH',
        json: {
          actions: [
            { action: 'update', entities: [{ task_id: 'extract', new_state: 'failed' }] },
            { action: 'delete', entities: ['load'] },
          ],
        },
      },
    );
  });

  it('PUT /parseDagFile files no parse request', async () => {
    await seedDag(api.prisma, 'audit_parse', [smallDag('audit_parse')]);
    const token = Buffer.from('/dags/audit_parse.json').toString('base64url');
    const response = await whileEventRefused(api.prisma, 'reparse_dag_file', () =>
      api.request(`/api/v2/parseDagFile/${token}`, { method: 'PUT' }),
    );
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(
      await api.prisma.dagPriorityParsingRequest.count({
        where: { fileloc: '/dags/audit_parse.json' },
      }),
    ).toBe(0);
  });
});

/** The events recorded for `dagId`, oldest first: what, on which run and instance, and by whom. */
async function recordedEvents(dagId: string) {
  const events = await api.prisma.eventLog.findMany({ where: { dagId }, orderBy: { id: 'asc' } });
  return events.map((e) => [e.event, e.runId, e.taskId, e.mapIndex, e.owner !== null]);
}

describe('a route whose change is made records its event', () => {
  it('bulk PATCH of task instances records one event per instance changed, with its actor', async () => {
    await dagWithRun('audit_bulk_recorded', 'success', {
      extract: 'success',
      transform: 'success',
      load: 'success',
    });
    const response = await api.request(
      '/api/v2/dags/audit_bulk_recorded/dagRuns/r1/taskInstances',
      {
        method: 'PATCH',
        json: {
          actions: [
            {
              action: 'update',
              entities: [
                { task_id: 'extract', note: 'checked' },
                { task_id: 'nope', note: 'no such task' },
              ],
            },
            { action: 'delete', entities: ['load'] },
          ],
        },
      },
    );
    expect(response.status).toBe(200);
    expect(await recordedEvents('audit_bulk_recorded')).toEqual([
      ['bulk_task_instances', 'r1', 'extract', null, true],
      ['bulk_task_instances', 'r1', 'load', null, true],
    ]);
  });

  it('PATCH of a task instance records one event with its actor', async () => {
    await dagWithRun('audit_recorded', 'failed', {
      extract: 'failed',
      transform: 'upstream_failed',
      load: 'upstream_failed',
    });
    const response = await api.request(
      '/api/v2/dags/audit_recorded/dagRuns/r1/taskInstances/extract',
      { method: 'PATCH', json: { new_state: 'success', note: 'fixed' } },
    );
    expect(response.status).toBe(200);
    expect(await recordedEvents('audit_recorded')).toEqual([
      ['patch_task_instance', 'r1', 'extract', null, true],
    ]);
    const extract = await api.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'audit_recorded', taskId: 'extract' },
    });
    expect([extract.state, extract.note]).toEqual(['success', 'fixed']);
  });
});
