import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let versions: string[];

beforeAll(async () => {
  api = await startTestApi();
  versions = await seedDag(api.prisma, 'etl', [
    smallDag('etl'),
    smallDag('etl', { description: 'v2' }),
  ]);
});

afterAll(() => api.close());

const tis = [
  { taskId: 'extract', state: 'success', tryNumber: 1, maxTries: 2 },
  { taskId: 'transform', state: 'running', tryNumber: 1, operator: 'empty' },
  { taskId: 'load', state: 'failed', tryNumber: 2, maxTries: 1 },
];

async function runState(runId: string) {
  const run = await api.prisma.dagRun.findUniqueOrThrow({
    where: { dagId_runId: { dagId: 'etl', runId } },
  });
  const instances = await api.prisma.taskInstance.findMany({
    where: { dagId: 'etl', runId },
    orderBy: { taskId: 'asc' },
  });
  return { run, instances: Object.fromEntries(instances.map((ti) => [ti.taskId, ti])) };
}

describe('triggering a run (POST /api/v2/dags/{dag_id}/dagRuns)', () => {
  it('creates a queued manual run on the latest version, triggered by rest_api, with its task instances in state null', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: {
        dag_run_id: 'manual_1',
        logical_date: '2026-03-01T00:00:00Z',
        conf: { day: 1 },
        note: 'by hand',
      },
    });
    expect(response.status).toBe(200);
    const { run, instances } = await runState('manual_1');
    expect(run).toMatchObject({
      state: 'queued',
      runType: 'manual',
      triggeredBy: 'rest_api',
      createdDagVersionId: versions[1],
      conf: { day: 1 },
      note: 'by hand',
    });
    expect(run.queuedAt).toBeInstanceOf(Date);
    expect(run.logicalDate?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(
      Object.values(instances).map((ti) => [ti.taskId, ti.state, ti.tryNumber, ti.dagVersionId]),
    ).toEqual([
      ['extract', null, 0, versions[1]],
      ['load', null, 0, versions[1]],
      ['transform', null, 0, versions[1]],
    ]);
  });

  it('names the run manual__<run_after>_<random> when neither dag_run_id nor logical_date is given', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns', {
        method: 'POST',
        json: { logical_date: null, run_after: '2026-04-01T12:00:00Z' },
      })
    ).json();
    expect(body.dag_run_id).toMatch(/^manual__2026-04-01T12:00:00\+00:00_[A-Za-z0-9]{8}$/);
    expect(body.run_after).toBe('2026-04-01T12:00:00.000Z');
    expect(body.conf).toEqual({});
  });

  it('names the run manual__<logical_date> when a logical_date is given, as Airflow', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns', {
        method: 'POST',
        json: { logical_date: '2026-05-01T06:30:00.250Z', run_after: '2026-06-01T00:00:00Z' },
      })
    ).json();
    expect(body.dag_run_id).toBe('manual__2026-05-01T06:30:00.250000+00:00');
  });

  it("takes a DAG without schedule's logical date as the data interval and run_after, as Airflow", async () => {
    // Airflow's validate_context: the timetable infers the interval (exactly the logical date
    // without a schedule) and run_after is its end; before, both interval ends were null and
    // run_after the time of the trigger.
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'exact_interval', logical_date: '2026-05-01T00:00:00Z' },
    });
    const body: any = await response.json();
    expect(body).toMatchObject({
      logical_date: '2026-05-01T00:00:00.000Z',
      data_interval_start: '2026-05-01T00:00:00.000Z',
      data_interval_end: '2026-05-01T00:00:00.000Z',
      run_after: '2026-05-01T00:00:00.000Z',
    });
    const listed: any = await (
      await api.request(
        '/api/v2/dags/etl/dagRuns?run_after_gte=2026-05-01T00:00:00Z&run_after_lte=2026-05-01T00:00:00Z',
      )
    ).json();
    expect(listed.dag_runs.map((run: any) => run.dag_run_id)).toEqual(['exact_interval']);
    // Without a logical date there is no interval, and run_after is when it was triggered.
    const unscheduled: any = await (
      await api.request('/api/v2/dags/etl/dagRuns', {
        method: 'POST',
        json: { logical_date: null },
      })
    ).json();
    expect(unscheduled.data_interval_start).toBeNull();
    expect(Date.now() - Date.parse(unscheduled.run_after)).toBeLessThan(600_000);
  });

  it('gives a run without a logical date no data interval, even one the body names, as Airflow', async () => {
    // Airflow's validate_context reads data_interval_start/end only with a logical_date.
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: {
        dag_run_id: 'interval_without_date',
        logical_date: null,
        data_interval_start: '2026-04-01T00:00:00Z',
        data_interval_end: '2026-04-02T00:00:00Z',
      },
    });
    expect(response.status).toBe(200);
    const body: any = await response.json();
    expect([body.logical_date, body.data_interval_start, body.data_interval_end]).toEqual([
      null,
      null,
      null,
    ]);
    expect(Date.now() - Date.parse(body.run_after)).toBeLessThan(600_000);
  });

  it("gives a cron DAG's manual run the last complete interval before its logical date, as the scheduler's timetable", async () => {
    // Airflow's validate_context asks the DAG's timetable (CronDataIntervalTimetable, which our
    // scheduler follows): a daily DAG triggered for 10:30 on 1 May covers 30 April; run_after is
    // the interval's end. Before, a cron DAG's manual interval stayed null.
    await seedDag(api.prisma, 'daily', [
      smallDag('daily', { schedule: '@daily', start_date: '2026-01-01T00:00:00Z' }),
    ]);
    const response = await api.request('/api/v2/dags/daily/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'daily_manual', logical_date: '2026-05-01T10:30:00Z' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      dag_run_id: 'daily_manual',
      logical_date: '2026-05-01T10:30:00.000Z',
      data_interval_start: '2026-04-30T00:00:00.000Z',
      data_interval_end: '2026-05-01T00:00:00.000Z',
      run_after: '2026-05-01T00:00:00.000Z',
    });
  });

  it('answers 200 with 100 distinct run ids to 100 concurrent triggers that name no id', async () => {
    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        api.request('/api/v2/dags/etl/dagRuns', {
          method: 'POST',
          json: { logical_date: null, run_after: '2026-07-01T00:00:00Z' },
        }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(100).fill(200));
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as any).dag_run_id));
    expect(new Set(ids).size).toBe(100);
  });

  it('creates no run when its audit event cannot be written, so an answer other than 200 can be retried', async () => {
    // The event failing after the run committed is what a pool wait beyond its timeout did under a
    // burst: 503 for runs that existed (21 of 147 with DATABASE_POOL_MAX=1), each retry a second.
    await api.prisma.$executeRawUnsafe(`
      CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the event log refuses %', NEW.run_id; END $$`);
    await api.prisma.$executeRawUnsafe(`
      CREATE TRIGGER refuse_event BEFORE INSERT ON log FOR EACH ROW
      WHEN (NEW.run_id = 'unaudited') EXECUTE FUNCTION refuse_event()`);
    try {
      const response = await api.request('/api/v2/dags/etl/dagRuns', {
        method: 'POST',
        json: { dag_run_id: 'unaudited', logical_date: null },
      });
      expect(response.status).not.toBe(200);
      expect(await api.prisma.dagRun.count({ where: { dagId: 'etl', runId: 'unaudited' } })).toBe(
        0,
      );
    } finally {
      await api.prisma.$executeRawUnsafe('DROP TRIGGER refuse_event ON log');
      await api.prisma.$executeRawUnsafe('DROP FUNCTION refuse_event()');
    }
  });

  it('records the trigger in the event log with the run it created', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { logical_date: null, note: 'audited' },
    });
    expect(response.status).toBe(200);
    const { dag_run_id: runId } = (await response.json()) as { dag_run_id: string };
    const events = await api.prisma.eventLog.findMany({ where: { runId } });
    expect(events.map((e) => [e.event, e.dagId, e.owner !== null])).toEqual([
      ['trigger_dag_run', 'etl', true],
    ]);
  });

  it('answers 409 to a second run for a logical_date the DAG already has a run for', async () => {
    const first = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'dated_1', logical_date: '2026-08-01T00:00:00Z' },
    });
    expect(first.status).toBe(200);
    for (const body of [
      { dag_run_id: 'dated_2', logical_date: '2026-08-01T00:00:00+00:00' },
      { logical_date: '2026-08-01T02:00:00+02:00' },
    ]) {
      const second = await api.request('/api/v2/dags/etl/dagRuns', { method: 'POST', json: body });
      expect(second.status).toBe(409);
      expect(((await second.json()) as any).detail).toEqual({
        reason: 'Unique constraint violation',
        statement: 'hidden',
        orig_error: 'hidden',
        message: expect.stringContaining(
          'already has a run with logical_date 2026-08-01T00:00:00.000Z',
        ),
      });
    }
    expect(await api.prisma.dagRun.count({ where: { dagId: 'etl', runId: 'dated_2' } })).toBe(0);
  });

  it('gives a generated id a random suffix when a run already took manual__<logical_date>', async () => {
    const squatter = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'manual__2026-09-01T00:00:00+00:00', logical_date: null },
    });
    expect(squatter.status).toBe(200);
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { logical_date: '2026-09-01T00:00:00Z' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).dag_run_id).toMatch(
      /^manual__2026-09-01T00:00:00\+00:00_[A-Za-z0-9]{8}$/,
    );
  });

  it("answers 409 with Airflow's unique-violation detail for a dag_run_id that already exists", async () => {
    const body = { dag_run_id: 'twice', logical_date: null };
    expect(
      (await api.request('/api/v2/dags/etl/dagRuns', { method: 'POST', json: body })).status,
    ).toBe(200);
    const second = await api.request('/api/v2/dags/etl/dagRuns', { method: 'POST', json: body });
    expect(second.status).toBe(409);
    expect(await second.json()).toEqual({
      detail: {
        reason: 'Unique constraint violation',
        statement: 'hidden',
        orig_error: 'hidden',
        message: 'DAG run twice of DAG etl already exists',
      },
    });
  });

  it('answers 404 for an unknown DAG', async () => {
    const response = await api.request('/api/v2/dags/ghost/dagRuns', {
      method: 'POST',
      json: { logical_date: null },
    });
    expect(response.status).toBe(404);
  });

  it.each([[['a', 'list']], ['text'], [42]])(
    'answers 422 when conf is not an object (%j)',
    async (conf) => {
      const response = await api.request('/api/v2/dags/etl/dagRuns', {
        method: 'POST',
        json: { logical_date: null, conf },
      });
      expect(response.status).toBe(422);
      const body: any = await response.json();
      expect(body.detail[0].loc).toEqual(['body', 'conf']);
    },
  );

  it('answers 422 when logical_date is missing, as Airflow requires it (null is allowed)', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'no_logical_date' },
    });
    expect(response.status).toBe(422);
  });

  it('answers 422 when only one end of the data interval is given', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { logical_date: null, data_interval_start: '2026-01-01T00:00:00Z' },
    });
    expect(response.status).toBe(422);
  });
});

describe('patching a run state (PATCH .../dagRuns/{dag_run_id})', () => {
  it('success finishes the run and marks its unfinished task instances success', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'to_success',
      versionId: versions[1]!,
      tis: [...tis, { taskId: 'later', state: null }],
    });
    const response = await api.request('/api/v2/dags/etl/dagRuns/to_success', {
      method: 'PATCH',
      json: { state: 'success' },
    });
    expect(response.status).toBe(200);
    const { run, instances } = await runState('to_success');
    expect(run.state).toBe('success');
    expect(run.endDate).toBeInstanceOf(Date);
    expect(instances.transform?.state).toBe('success');
    expect(instances.later?.state).toBe('success');
    expect(instances.load?.state).toBe('failed');
  });

  it('failed finishes the run, fails running task instances and skips the ones not started', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'to_failed',
      versionId: versions[1]!,
      tis: [...tis, { taskId: 'later', state: null }],
    });
    await api.request('/api/v2/dags/etl/dagRuns/to_failed', {
      method: 'PATCH',
      json: { state: 'failed' },
    });
    const { run, instances } = await runState('to_failed');
    expect(run.state).toBe('failed');
    expect(instances.transform?.state).toBe('failed');
    expect(instances.later?.state).toBe('skipped');
    expect(instances.extract?.state).toBe('success');
  });

  it('update_mask=note changes the note only', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'note_only',
      versionId: versions[1]!,
      state: 'running',
    });
    const response = await api.request('/api/v2/dags/etl/dagRuns/note_only?update_mask=note', {
      method: 'PATCH',
      json: { state: 'failed', note: 'looked at it' },
    });
    const body: any = await response.json();
    expect(body).toMatchObject({ state: 'running', note: 'looked at it' });
  });

  it('answers 422 for a state a client may not set', async () => {
    const response = await api.request('/api/v2/dags/etl/dagRuns/note_only', {
      method: 'PATCH',
      json: { state: 'running' },
    });
    expect(response.status).toBe(422);
  });

  it('answers 404 for an unknown run', async () => {
    expect(
      (
        await api.request('/api/v2/dags/etl/dagRuns/ghost', {
          method: 'PATCH',
          json: { state: 'success' },
        })
      ).status,
    ).toBe(404);
  });
});

describe('clearing a run (POST .../dagRuns/{dag_run_id}/clear)', () => {
  it('dry_run (the default) lists the task instances it would clear and changes nothing', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'dry',
      versionId: versions[1]!,
      state: 'failed',
      tis,
    });
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns/dry/clear', { method: 'POST', json: {} })
    ).json();
    expect(body.task_instances.map((ti: { task_id: string }) => ti.task_id).sort()).toEqual([
      'extract',
      'load',
      'transform',
    ]);
    expect((await runState('dry')).run.state).toBe('failed');
  });

  it('only_failed limits the dry run to failed task instances', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns/dry/clear', {
        method: 'POST',
        json: { only_failed: true },
      })
    ).json();
    expect(body.task_instances.map((ti: { task_id: string }) => ti.task_id)).toEqual(['load']);
  });

  it('queues the run again and resets its task instances: state null, try_number kept, max_tries raised by retries', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'cleared',
      versionId: versions[1]!,
      state: 'failed',
      tis,
    });
    await api.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'etl', runId: 'cleared' } },
      data: { endDate: new Date() },
    });
    const response = await api.request('/api/v2/dags/etl/dagRuns/cleared/clear', {
      method: 'POST',
      json: { dry_run: false },
    });
    expect(response.status).toBe(200);
    const body: any = await response.json();
    expect(body.state).toBe('queued');
    const { run, instances } = await runState('cleared');
    expect(run).toMatchObject({ state: 'queued', endDate: null, startDate: null, clearNumber: 1 });
    // extract has retries 2, load retries 1, transform 0 (smallDag).
    expect(instances.extract).toMatchObject({ state: null, tryNumber: 1, maxTries: 3 });
    expect(instances.load).toMatchObject({ state: null, tryNumber: 2, maxTries: 3 });
    expect(instances.transform).toMatchObject({ state: null, tryNumber: 1, maxTries: 1 });
  });

  it('only_failed resets the failed task instances and leaves the others', async () => {
    await seedRun(api.prisma, {
      dagId: 'etl',
      runId: 'failed_only',
      versionId: versions[1]!,
      state: 'failed',
      tis,
    });
    await api.request('/api/v2/dags/etl/dagRuns/failed_only/clear', {
      method: 'POST',
      json: { dry_run: false, only_failed: true },
    });
    const { instances } = await runState('failed_only');
    expect(instances.load?.state).toBeNull();
    expect(instances.extract?.state).toBe('success');
  });

  it('answers 404 for an unknown run', async () => {
    expect(
      (
        await api.request('/api/v2/dags/etl/dagRuns/ghost/clear', {
          method: 'POST',
          json: { dry_run: false },
        })
      ).status,
    ).toBe(404);
  });
});

describe('deleting a run (DELETE .../dagRuns/{dag_run_id})', () => {
  it('removes the run and its task instances and answers 204', async () => {
    await seedRun(api.prisma, { dagId: 'etl', runId: 'doomed', versionId: versions[1]!, tis });
    const response = await api.request('/api/v2/dags/etl/dagRuns/doomed', { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(await api.prisma.taskInstance.count({ where: { runId: 'doomed' } })).toBe(0);
    expect((await api.request('/api/v2/dags/etl/dagRuns/doomed')).status).toBe(404);
  });

  it('answers 404 for an unknown run', async () => {
    expect((await api.request('/api/v2/dags/etl/dagRuns/ghost', { method: 'DELETE' })).status).toBe(
      404,
    );
  });
});

describe('listing runs (GET .../dagRuns)', () => {
  it('filters by state and orders by a requested column, descending with a minus sign', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns?state=queued&order_by=-dag_run_id&limit=2')
    ).json();
    expect(body.dag_runs.length).toBe(2);
    expect(body.dag_runs.every((run: { state: string }) => run.state === 'queued')).toBe(true);
    const ids = body.dag_runs.map((run: { dag_run_id: string }) => run.dag_run_id);
    expect([...ids].sort().reverse()).toEqual(ids);
    expect(body.total_entries).toBeGreaterThan(2);
  });

  it('filters by triggering_user_name_pattern instead of ignoring it, as Airflow', async () => {
    await seedRun(api.prisma, { dagId: 'etl', runId: 'by_scheduler', versionId: versions[0]! });
    await api.prisma.dagRun.update({
      where: { dagId_runId: { dagId: 'etl', runId: 'by_scheduler' } },
      data: { triggeringUserName: null },
    });
    await api.request('/api/v2/dags/etl/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'by_caller', logical_date: null },
    });
    const { triggering_user_name: caller } = (await (
      await api.request('/api/v2/dags/etl/dagRuns/by_caller')
    ).json()) as { triggering_user_name: string };
    const ids = async (pattern: string) => {
      const body: any = await (
        await api.request(
          `/api/v2/dags/~/dagRuns?limit=1000&triggering_user_name_pattern=${encodeURIComponent(pattern)}`,
        )
      ).json();
      return body.dag_runs.map((run: { dag_run_id: string }) => run.dag_run_id) as string[];
    };
    expect(await ids(caller.toUpperCase())).toContain('by_caller');
    expect(await ids(caller)).not.toContain('by_scheduler');
    expect(await ids('nobody')).toEqual([]);
  });

  it('reads an end date not set yet as now, as Airflow: end_date_gte finds the runs still going', async () => {
    await seedRun(api.prisma, { dagId: 'etl', runId: 'still_going', versionId: versions[0]! });
    const since = encodeURIComponent(new Date(Date.now() - 60_000).toISOString());
    const listed: any = await (
      await api.request(`/api/v2/dags/etl/dagRuns?limit=1000&end_date_gte=${since}`)
    ).json();
    expect(listed.dag_runs.map((run: any) => run.dag_run_id)).toContain('still_going');
    // The batch body compares the stored dates, as Airflow's.
    const batch: any = await (
      await api.request('/api/v2/dags/~/dagRuns/list', {
        method: 'POST',
        json: { dag_ids: ['etl'], end_date_gte: new Date(Date.now() - 60_000).toISOString() },
      })
    ).json();
    expect(batch.dag_runs.map((run: any) => run.dag_run_id)).not.toContain('still_going');
  });

  it('breaks ties in the direction of the first order_by key, as Airflow: newest first for -state', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/etl/dagRuns?state=running&order_by=-state&limit=1000')
    ).json();
    const runs = body.dag_runs as { dag_run_id: string }[];
    expect(runs.length).toBeGreaterThan(1);
    const stored = await api.prisma.dagRun.findMany({
      where: { dagId: 'etl', state: 'running' },
      orderBy: { id: 'desc' },
    });
    expect(runs.map((run) => run.dag_run_id)).toEqual(stored.map((run) => run.runId));
  });

  it('answers 404 for an unknown DAG', async () => {
    expect((await api.request('/api/v2/dags/ghost/dagRuns')).status).toBe(404);
  });
});

describe('waiting for a run (GET .../dagRuns/{dag_run_id}/wait)', () => {
  it('keeps no abort listener per interval on the request however long the run goes on', async () => {
    // Before: each interval added one to the request's signal and none went before the run ended
    // (36,000 an hour at interval=0.1, each holding its timer and closure).
    await seedRun(api.prisma, { dagId: 'etl', runId: 'long_wait', versionId: versions[1]! });
    const signals = new Set<AbortSignal>();
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const original = EventTarget.prototype.addEventListener;
    const add = vi.spyOn(EventTarget.prototype, 'addEventListener').mockImplementation(function (
      this: EventTarget,
      ...args
    ) {
      if (args[0] === 'abort' && this instanceof AbortSignal) signals.add(this);
      return original.apply(this, args);
    });
    const gone = new AbortController();
    try {
      const response = await api.request('/api/v2/dags/etl/dagRuns/long_wait/wait?interval=0.1', {
        signal: gone.signal,
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let lines = 0;
      while (lines < 25) {
        const { value, done } = await reader.read();
        if (done) break;
        lines += decoder
          .decode(value)
          .split('\n')
          .filter((line) => line !== '').length;
      }
      expect(lines).toBeGreaterThanOrEqual(25);
      // 25 intervals into a run that stays running, while the stream is still open.
      const most = Math.max(...[...signals].map((s) => getEventListeners(s, 'abort').length));
      expect(most).toBeLessThanOrEqual(3);
    } finally {
      add.mockRestore();
      gone.abort();
    }
  });
});
