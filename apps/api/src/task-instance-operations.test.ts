/**
 * Task instance operations through real HTTP and PostgreSQL, on runs seeded as the scheduler would
 * leave them (the scheduler's side is in tests/reliability/src/api-task-operations.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let versions: string[];

beforeAll(async () => {
  api = await startTestApi();
  versions = await seedDag(api.prisma, 'etl', [smallDag('etl')]);
});

afterAll(() => api.close());

/** A running run of etl (extract -> transform -> load) with the given task states. */
async function run(
  runId: string,
  states: { extract: string | null; transform: string | null; load: string | null },
  options: { state?: string; logicalDate?: Date | null } = {},
) {
  await seedRun(api.prisma, {
    dagId: 'etl',
    runId,
    versionId: versions[0]!,
    state: options.state,
    logicalDate: options.logicalDate,
    tis: Object.entries(states).map(([taskId, state]) => ({
      taskId,
      state,
      tryNumber: state === null ? 0 : 1,
    })),
  });
}

async function statesOf(runId: string): Promise<Record<string, string | null>> {
  const rows = await api.prisma.taskInstance.findMany({ where: { dagId: 'etl', runId } });
  return Object.fromEntries(rows.map((row) => [row.taskId, row.state]));
}

const base = (runId: string) => `/api/v2/dags/etl/dagRuns/${runId}/taskInstances`;

async function patch(path: string, json: unknown) {
  const response = await api.request(path, { method: 'PATCH', json });
  return { status: response.status, body: (await response.json()) as any };
}

describe('PATCH a task instance', () => {
  it('sets a failed task success and clears its failed downstream so it runs again, as Airflow', async () => {
    await run('resume', {
      extract: 'failed',
      transform: 'upstream_failed',
      load: 'upstream_failed',
    });
    await api.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'etl', runId: 'resume' } },
      data: { state: 'failed' },
    });
    const { status, body } = await patch(`${base('resume')}/extract`, { new_state: 'success' });
    expect(status).toBe(200);
    expect(body.task_instances).toMatchObject([{ task_id: 'extract', state: 'success' }]);
    expect(await statesOf('resume')).toEqual({ extract: 'success', transform: null, load: null });
    const again = await api.prisma.dagRun.findUniqueOrThrow({
      where: { dagId_runId: { dagId: 'etl', runId: 'resume' } },
    });
    expect(again.state).toBe('queued');
  });

  it('with include_upstream sets the task and every upstream task', async () => {
    await run('upstream', { extract: 'failed', transform: 'failed', load: 'failed' });
    const { body } = await patch(`${base('upstream')}/transform/dry_run`, {
      new_state: 'success',
      include_upstream: true,
    });
    expect(body.task_instances.map((ti: any) => ti.task_id)).toEqual(['extract', 'transform']);
  });

  it('with include_future/include_past reaches the runs after/before by logical date', async () => {
    const day = (n: number) => new Date(Date.UTC(2027, 0, n));
    await run('d1', { extract: 'failed', transform: null, load: null }, { logicalDate: day(1) });
    await run('d2', { extract: 'failed', transform: null, load: null }, { logicalDate: day(2) });
    await run('d3', { extract: 'failed', transform: null, load: null }, { logicalDate: day(3) });
    const runsOf = (body: any) => body.task_instances.map((ti: any) => ti.dag_run_id);
    const future = await patch(`${base('d2')}/extract/dry_run`, {
      new_state: 'success',
      include_future: true,
    });
    expect(runsOf(future.body)).toEqual(expect.arrayContaining(['d2', 'd3']));
    expect(runsOf(future.body)).not.toContain('d1');
    const past = await patch(`${base('d2')}/extract/dry_run`, {
      new_state: 'success',
      include_past: true,
    });
    expect(runsOf(past.body)).toEqual(expect.arrayContaining(['d1', 'd2']));
    expect(runsOf(past.body)).not.toContain('d3');
  });

  it('answers 409 when the task is already in that state, as Airflow', async () => {
    await run('same', { extract: 'success', transform: null, load: null });
    const { status, body } = await patch(`${base('same')}/extract`, { new_state: 'success' });
    expect(status).toBe(409);
    expect(body.detail).toBe('Task id extract is already in success state');
  });

  it('changes nothing on a dry run', async () => {
    await run('dry', { extract: 'running', transform: null, load: null });
    const { status, body } = await patch(`${base('dry')}/extract/dry_run`, {
      new_state: 'failed',
      include_downstream: true,
      note: 'not written',
    });
    expect(status).toBe(200);
    expect(body.task_instances.map((ti: any) => ti.task_id)).toEqual([
      'extract',
      'load',
      'transform',
    ]);
    expect(await statesOf('dry')).toEqual({ extract: 'running', transform: null, load: null });
    const extract = await api.prisma.taskInstance.findFirstOrThrow({
      where: { runId: 'dry', taskId: 'extract' },
    });
    expect(extract.note).toBeNull();
  });

  it('updates only the fields both in update_mask and in the body', async () => {
    await run('mask', { extract: 'running', transform: null, load: null });
    const { body } = await patch(`${base('mask')}/extract?update_mask=note`, {
      new_state: 'failed',
      note: 'looked at it',
    });
    expect(body.task_instances[0]).toMatchObject({ state: 'running', note: 'looked at it' });
    const second = await patch(`${base('mask')}/extract?update_mask=new_state`, { note: 'x' });
    expect(second.status).toBe(200);
    expect(second.body.task_instances[0]).toMatchObject({ state: 'running', note: 'looked at it' });
  });

  it("answers 422 for a state an operator cannot set, naming Airflow's choices", async () => {
    await run('bad_state', { extract: 'running', transform: null, load: null });
    const { status, body } = await patch(`${base('bad_state')}/extract`, { new_state: 'running' });
    expect(status).toBe(422);
    expect(body.detail[0].msg).toContain("is not one of ['success', 'failed', 'skipped']");
  });

  it('answers 404 for a task the DAG does not have, and for a map index other than -1', async () => {
    await run('missing', { extract: 'running', transform: null, load: null });
    const unknown = await patch(`${base('missing')}/nope`, { new_state: 'success' });
    expect(unknown).toEqual({
      status: 404,
      body: { detail: "Task 'nope' not found in DAG 'etl'" },
    });
    expect((await patch(`${base('missing')}/extract/3`, { new_state: 'success' })).status).toBe(
      404,
    );
  });

  it('records the change in the event log with its actor', async () => {
    await run('logged', { extract: 'running', transform: null, load: null });
    await patch(`${base('logged')}/extract`, { new_state: 'skipped' });
    const events = await api.prisma.eventLog.findMany({ where: { runId: 'logged' } });
    expect(events).toMatchObject([
      { event: 'patch_task_instance', taskId: 'extract', owner: expect.any(String) },
    ]);
  });
});

describe('the event log', () => {
  it('records clearTaskInstances, bulk and DELETE with their actor; dry runs record nothing', async () => {
    await run('audited', { extract: 'failed', transform: null, load: null });
    const clear = (dry_run: boolean) =>
      api.request('/api/v2/dags/etl/clearTaskInstances', {
        method: 'POST',
        json: { dry_run, dag_run_id: 'audited', task_ids: ['extract'] },
      });
    expect((await clear(true)).status).toBe(200);
    expect((await clear(false)).status).toBe(200);
    await api.request(base('audited'), {
      method: 'PATCH',
      json: { actions: [{ action: 'update', entities: [{ task_id: 'transform', note: 'n' }] }] },
    });
    await api.request(`${base('audited')}/load`, { method: 'DELETE' });
    const events = await api.prisma.eventLog.findMany({
      where: { runId: 'audited' },
      orderBy: { id: 'asc' },
    });
    expect(events.map((e) => [e.event, e.taskId])).toEqual([
      ['post_clear_task_instances', null],
      ['bulk_task_instances', 'transform'],
      ['delete_task_instance', 'load'],
    ]);
    expect(events.every((e) => typeof e.owner === 'string' && e.owner.length > 0)).toBe(true);
  });
});

describe('tries of a task instance', () => {
  it('a cleared try stays in the history with the state it had, beside the next one', async () => {
    await run('tries', { extract: 'failed', transform: null, load: null });
    const cleared = await api.request('/api/v2/dags/etl/clearTaskInstances', {
      method: 'POST',
      json: { dry_run: false, dag_run_id: 'tries', task_ids: ['extract'] },
    });
    expect(cleared.status).toBe(200);
    // Scheduled again but not started: the one try so far is the archived one.
    await api.prisma.taskInstance.updateMany({
      where: { runId: 'tries', taskId: 'extract' },
      data: { state: 'scheduled' },
    });
    const waiting: any = await (await api.request(`${base('tries')}/extract/tries`)).json();
    expect(waiting.task_instances.map((t: any) => [t.try_number, t.state])).toEqual([
      [1, 'failed'],
    ]);
    // The scheduler's next try, as claimScheduledTaskInstances leaves it.
    await api.prisma.taskInstance.updateMany({
      where: { runId: 'tries', taskId: 'extract' },
      data: { state: 'running', tryNumber: 2, startDate: new Date() },
    });
    const tries: any = await (await api.request(`${base('tries')}/extract/tries`)).json();
    expect(tries.task_instances.map((t: any) => [t.try_number, t.state])).toEqual([
      [1, 'failed'],
      [2, 'running'],
    ]);
    const first: any = await (await api.request(`${base('tries')}/extract/tries/1`)).json();
    expect(first).toMatchObject({ try_number: 1, state: 'failed' });
    expect((await api.request(`${base('tries')}/extract/tries/3`)).status).toBe(404);
  });
});

describe('tries of a retried task set to a state by hand', () => {
  it('lists the archived try as it ended and the instance as it is now, as Airflow', async () => {
    await run('retry_fixed', { extract: 'running', transform: null, load: null });
    // The executor's failed try with retries left (finishTaskInstanceTry): archived by the trigger.
    await api.prisma.taskInstance.updateMany({
      where: { runId: 'retry_fixed', taskId: 'extract' },
      data: { state: 'up_for_retry', endDate: new Date() },
    });
    const { status } = await patch(`${base('retry_fixed')}/extract`, { new_state: 'success' });
    expect(status).toBe(200);
    const tries: any = await (await api.request(`${base('retry_fixed')}/extract/tries`)).json();
    expect(tries.task_instances.map((t: any) => [t.try_number, t.state])).toEqual([
      [1, 'failed'],
      [1, 'success'],
    ]);
    const one: any = await (await api.request(`${base('retry_fixed')}/extract/tries/1`)).json();
    expect(one.state).toBe('success');
  });
});

describe('dependencies of a task instance', () => {
  it('names the run not running, the paused DAG and the unmet trigger rule', async () => {
    await run(
      'blocked',
      { extract: 'success', transform: 'failed', load: null },
      { state: 'queued' },
    );
    await api.prisma.dag.update({ where: { dagId: 'etl' }, data: { isPaused: true } });
    try {
      const body: any = await (await api.request(`${base('blocked')}/load/dependencies`)).json();
      expect(body.dependencies.map((d: any) => d.name)).toEqual([
        'Dag Not Paused',
        'Dagrun Running',
        'Trigger Rule',
      ]);
      expect(body.dependencies[2].reason).toContain(
        "Task's trigger rule 'all_success' requires all upstream tasks to have succeeded, but found 1 non-success(es)",
      );
    } finally {
      await api.prisma.dag.update({ where: { dagId: 'etl' }, data: { isPaused: false } });
    }
  });

  it("names a run at its DAG's max_active_tasks, not the executor's slots", async () => {
    await run('full', { extract: 'running', transform: 'scheduled', load: null });
    await api.prisma.dag.update({ where: { dagId: 'etl' }, data: { maxActiveTasks: 1 } });
    try {
      const body: any = await (await api.request(`${base('full')}/transform/dependencies`)).json();
      expect(body.dependencies).toEqual([
        {
          name: 'Task Instance Slots Available',
          reason:
            "The maximum number of running tasks (1) for this task's DAG 'etl' has been reached in its run.",
        },
      ]);
    } finally {
      await api.prisma.dag.update({ where: { dagId: 'etl' }, data: { maxActiveTasks: 16 } });
    }
  });

  it('is empty for an instance that is not waiting (Airflow looks only at null and scheduled)', async () => {
    await run('done', { extract: 'success', transform: null, load: null });
    const body: any = await (await api.request(`${base('done')}/extract/dependencies`)).json();
    expect(body).toEqual({ dependencies: [] });
  });
});

describe('bulk PATCH and DELETE', () => {
  it('updates and deletes by action, reporting each success and error', async () => {
    await run('bulk', { extract: 'running', transform: null, load: null });
    const response = await api.request(base('bulk'), {
      method: 'PATCH',
      json: {
        actions: [
          { action: 'update', entities: [{ task_id: 'extract', new_state: 'success' }] },
          { action: 'delete', entities: ['load', 'ghost'] },
          { action: 'delete', entities: ['ghost'], action_on_non_existence: 'skip' },
        ],
      },
    });
    const body: any = await response.json();
    expect(response.status).toBe(200);
    expect(body.update).toEqual({ success: ['etl.bulk.extract[-1]'], errors: [] });
    expect(body.delete.success).toEqual(['etl.bulk.load[-1]']);
    expect(body.delete.errors).toHaveLength(1);
    expect(body.delete.errors[0].status_code).toBe(404);
    expect(await statesOf('bulk')).toEqual({ extract: 'success', transform: null });
  });
});

describe('listing task instances with ~', () => {
  it('lists across runs of one DAG, and 404s for an unknown DAG', async () => {
    await run('tilde', { extract: 'success', transform: null, load: null });
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns/~/taskInstances?task_id=transform&limit=1000')
    ).json();
    expect(body.task_instances.some((ti: any) => ti.dag_run_id === 'tilde')).toBe(true);
    expect(body.task_instances.every((ti: any) => ti.task_id === 'transform')).toBe(true);
    expect((await api.request('/api/v2/dags/ghost/dagRuns/~/taskInstances')).status).toBe(404);
  });
});

describe("listing a run's task instances with Airflow's filters", () => {
  const ids = async (query: string, runId = 'filtered') => {
    const response = await api.request(`${base(runId)}?${query}`);
    expect(response.status, query).toBe(200);
    const body: any = await response.json();
    return (body.task_instances as { task_id: string }[]).map((ti) => ti.task_id).sort();
  };

  it('applies the date, duration, display name, pool, queue and executor filters, never ignoring them', async () => {
    // Seeded: extract ended 10:00:05 after 5 s, transform running since 10:00, load not started.
    await run('filtered', { extract: 'success', transform: 'running', load: null });
    expect(await ids('duration_gte=5')).toEqual(['extract']);
    expect(await ids('duration_lt=5')).toEqual([]);
    // As Airflow's GET: a start or end date not set yet compares as now.
    expect(await ids('start_date_lte=2026-02-01T10:00:00Z')).toEqual(['extract', 'transform']);
    expect(await ids('end_date_lt=2026-02-01T10:00:06Z')).toEqual(['extract']);
    expect(await ids('end_date_gte=2026-02-01T10:00:06Z')).toEqual(['load', 'transform']);
    expect(await ids('start_date_gt=2026-02-01T10:00:00Z')).toEqual(['load']);
    expect(await ids('updated_at_gte=2999-01-01T00:00:00Z')).toEqual([]);
    expect(await ids('logical_date_lt=2000-01-01T00:00:00Z')).toEqual([]);
    expect(await ids('run_after_lte=2026-02-01T10:00:00Z')).toHaveLength(3);
    expect(await ids('task_display_name_pattern=RANS')).toEqual(['transform']);
    expect(await ids('pool=default_pool&queue=default')).toHaveLength(3);
    expect(await ids('pool=other')).toEqual([]);
    expect(await ids('queue=other')).toEqual([]);
    expect(await ids('executor=LocalExecutor')).toEqual([]);
    expect(await ids('duration_gte=5&task_id=extract', '~')).toContain('extract');
    expect((await api.request(`${base('filtered')}?duration_gte=five`)).status).toBe(422);
  });
});
