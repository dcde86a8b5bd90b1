/**
 * Clients that fire conflicting requests at once: every answer is one that some single ordering of
 * the requests would give (never a 500, never a conflict that no ordering explains), each change is
 * in the event log once, and every answer conforms to the OpenAPI document the API serves. Where a
 * race is narrow, a test holds a row lock of its own to put the competing change exactly in it.
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenApiContract, observe, type ObservedAnswer } from './testing/openapi-contract.ts';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let contract: OpenApiContract;

beforeAll(async () => {
  api = await startTestApi();
  contract = new OpenApiContract(
    (await (await api.request('/api/v2/openapi.json')).json()) as Record<string, any>,
  );
});

afterAll(() => api.close());

/** Answers of this test that break the served document (checked after each test). */
let offContract: string[] = [];

afterEach(() => {
  const problems = offContract;
  offContract = [];
  expect(problems.join('\n')).toBe('');
});

/** Sends one request, checks its answer against the served document, and returns it. */
async function send(
  method: string,
  url: string,
  json?: unknown,
): Promise<ObservedAnswer & { json: any }> {
  const answer = await observe(method, url, await api.request(url, { method, json }));
  const problem = contract.problem(answer);
  if (problem !== undefined) offContract.push(problem);
  const parsed = answer.contentType?.includes('json') ? JSON.parse(answer.body || 'null') : null;
  return { ...answer, json: parsed };
}

const count = (statuses: number[]) =>
  statuses.reduce<Record<number, number>>((acc, status) => {
    acc[status] = (acc[status] ?? 0) + 1;
    return acc;
  }, {});

/**
 * A transaction of the test's own on its own connection: it takes row locks, then commits, so
 * that a request's statement waits on them exactly where a concurrent request's would.
 */
async function lockingTransaction() {
  const client = new pg.Client({ connectionString: api.db.url });
  await client.connect();
  await client.query('BEGIN');
  return {
    query: (sql: string, values: unknown[] = []) => client.query(sql, values),
    async commit() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** Until a statement (the API's: nothing else waits here) waits for a lock in this database. */
async function untilWaiting(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rows = await api.prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND datname = current_database()`;
    if (Number(rows[0]!.n) > 0) return;
    await sleep(25);
  }
  throw new Error('no statement ever waited for the lock');
}

describe('the same trigger sent by many clients at once', () => {
  beforeAll(async () => {
    await seedDag(api.prisma, 'burst', [smallDag('burst')]);
  });

  it('creates one run for 20 triggers naming one dag_run_id; the other 19 answer 409 naming it', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        send('POST', '/api/v2/dags/burst/dagRuns', { dag_run_id: 'same_id', logical_date: null }),
      ),
    );
    expect(count(answers.map((a) => a.status))).toEqual({ 200: 1, 409: 19 });
    for (const answer of answers.filter((a) => a.status === 409))
      expect(answer.json.detail).toMatchObject({
        reason: 'Unique constraint violation',
        message: 'DAG run same_id of DAG burst already exists',
      });
    expect(await api.prisma.dagRun.count({ where: { dagId: 'burst', runId: 'same_id' } })).toBe(1);
    expect(
      await api.prisma.eventLog.count({ where: { event: 'trigger_dag_run', runId: 'same_id' } }),
    ).toBe(1);
  });

  it('creates one run for 20 triggers of one logical_date, with or without ids; the others answer 409 naming the date', async () => {
    const logicalDate = '2027-03-01T00:00:00Z';
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send('POST', '/api/v2/dags/burst/dagRuns', {
          logical_date: logicalDate,
          ...(i % 2 === 0 ? { dag_run_id: `by_date_${i}` } : {}),
        }),
      ),
    );
    expect(count(answers.map((a) => a.status))).toEqual({ 200: 1, 409: 19 });
    for (const answer of answers.filter((a) => a.status === 409))
      expect(answer.json.detail.message).toContain(
        'already has a run with logical_date 2027-03-01T00:00:00.000Z',
      );
    expect(
      await api.prisma.dagRun.count({
        where: { dagId: 'burst', logicalDate: new Date(logicalDate) },
      }),
    ).toBe(1);
  });
});

describe('a trigger racing the deletion of its DAG', () => {
  it('answers 404, not 500, when the DELETE commits while the run is being created', async () => {
    await seedDag(api.prisma, 'doomed', [smallDag('doomed')]);
    // The deletion holds the DAG's row from before the trigger's INSERT until it commits.
    const deletion = await lockingTransaction();
    await deletion.query(`SELECT 1 FROM dag WHERE dag_id = 'doomed' FOR UPDATE`);
    const trigger = send('POST', '/api/v2/dags/doomed/dagRuns', { logical_date: null });
    await untilWaiting();
    await deletion.query(`DELETE FROM dag WHERE dag_id = 'doomed'`);
    await deletion.commit();
    const answer = await trigger;
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ detail: "DAG with dag_id: 'doomed' not found" });
    expect(await api.prisma.eventLog.count({ where: { dagId: 'doomed' } })).toBe(0);
  });
});

describe('PATCH of one task instance from several clients at once', () => {
  beforeAll(async () => {
    const [version] = await seedDag(api.prisma, 'contended', [smallDag('contended')]);
    for (const runId of ['same_state', 'two_states', 'gone', 'gone_down', 'gone_note'])
      await seedRun(api.prisma, {
        dagId: 'contended',
        runId,
        versionId: version!,
        tis: [
          { taskId: 'extract', state: 'running' },
          { taskId: 'transform', state: null },
          { taskId: 'load', state: null },
        ],
      });
  });

  const tiUrl = (runId: string, taskId = 'extract') =>
    `/api/v2/dags/contended/dagRuns/${runId}/taskInstances/${taskId}`;

  it('sets the state once for 10 clients asking the same: one 200, nine 409, one event', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        send('PATCH', tiUrl('same_state'), { new_state: 'success' }),
      ),
    );
    expect(count(answers.map((a) => a.status))).toEqual({ 200: 1, 409: 9 });
    expect(
      await api.prisma.eventLog.count({
        where: { event: 'patch_task_instance', runId: 'same_state' },
      }),
    ).toBe(1);
  });

  it('ends in the state of the last change applied when clients ask for different states, one event per change', async () => {
    const states = ['success', 'failed', 'skipped', 'success', 'failed', 'skipped'];
    const answers = await Promise.all(
      states.map((newState) => send('PATCH', tiUrl('two_states'), { new_state: newState })),
    );
    for (const answer of answers) expect([200, 409]).toContain(answer.status);
    const events = await api.prisma.eventLog.findMany({
      where: { event: 'patch_task_instance', runId: 'two_states' },
      orderBy: { id: 'asc' },
    });
    expect(events).toHaveLength(answers.filter((a) => a.status === 200).length);
    const last = JSON.parse(events.at(-1)!.extra!) as { new_state: string };
    const extract = await api.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'contended', runId: 'two_states', taskId: 'extract' },
    });
    expect(extract.state).toBe(last.new_state);
  });

  /** PATCHes `runId`'s extract while a DELETE of it, committed first, holds it. */
  async function patchWhileDeleted(runId: string, body: unknown) {
    const where = `dag_id = 'contended' AND run_id = '${runId}' AND task_id = 'extract'`;
    const deletion = await lockingTransaction();
    await deletion.query(`SELECT 1 FROM task_instance WHERE ${where} FOR UPDATE`);
    const patch = send('PATCH', tiUrl(runId), body);
    await untilWaiting();
    await deletion.query(`DELETE FROM task_instance WHERE ${where}`);
    await deletion.commit();
    return patch;
  }

  it('answers 404, not "already in that state" (409), when a DELETE of the instance commits first', async () => {
    const answer = await patchWhileDeleted('gone', { new_state: 'success' });
    expect(answer.status).toBe(404);
    expect(answer.json.detail).toContain('task_id: `extract`');
    expect(
      await api.prisma.eventLog.count({ where: { event: 'patch_task_instance', runId: 'gone' } }),
    ).toBe(0);
  });

  it('answers 404 and leaves the relatives it reached unchanged when a DELETE of the instance commits first', async () => {
    const answer = await patchWhileDeleted('gone_down', {
      new_state: 'success',
      include_downstream: true,
    });
    expect(answer.status).toBe(404);
    const rest = await api.prisma.taskInstance.findMany({
      where: { dagId: 'contended', runId: 'gone_down' },
      orderBy: { taskId: 'asc' },
    });
    expect(rest.map((ti) => [ti.taskId, ti.state])).toEqual([
      ['load', null],
      ['transform', null],
    ]);
    expect(
      await api.prisma.eventLog.count({
        where: { event: 'patch_task_instance', runId: 'gone_down' },
      }),
    ).toBe(0);
  });

  it('answers 404, not an empty 200 with an event for nothing, to a note written as the instance is deleted', async () => {
    const answer = await patchWhileDeleted('gone_note', { note: 'looked at it' });
    expect(answer.status).toBe(404);
    expect(
      await api.prisma.eventLog.count({
        where: { event: 'patch_task_instance', runId: 'gone_note' },
      }),
    ).toBe(0);
  });
});

describe("a run's state set and cleared by several clients at once", () => {
  it('answers each 200, logs each change once, and ends as the last change left it', async () => {
    const [version] = await seedDag(api.prisma, 'marked', [smallDag('marked')]);
    await seedRun(api.prisma, {
      dagId: 'marked',
      runId: 'r',
      versionId: version!,
      tis: [
        { taskId: 'extract', state: 'success' },
        { taskId: 'transform', state: 'running' },
        { taskId: 'load', state: null },
      ],
    });
    const url = '/api/v2/dags/marked/dagRuns/r';
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 3 === 2
          ? send('POST', `${url}/clear`, { dry_run: false, only_failed: false })
          : send('PATCH', url, { state: i % 3 === 0 ? 'success' : 'failed' }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    const events = await api.prisma.eventLog.findMany({
      where: { dagId: 'marked', event: { in: ['patch_dag_run', 'clear_dag_run'] } },
      orderBy: { id: 'asc' },
    });
    expect(events).toHaveLength(12);
    // Each change locked the run before writing its event: the last event is the last change.
    const last = events.at(-1)!;
    const run = await api.prisma.dagRun.findUniqueOrThrow({
      where: { dagId_runId: { dagId: 'marked', runId: 'r' } },
    });
    const states = (
      await api.prisma.taskInstance.findMany({ where: { dagId: 'marked', runId: 'r' } })
    ).map((ti) => ti.state);
    if (last.event === 'clear_dag_run') {
      expect(run.state).toBe('queued');
      expect(states).toEqual([null, null, null]);
    } else {
      const wanted = (JSON.parse(last.extra!) as { state: string }).state;
      expect(run.state).toBe(wanted);
      for (const state of states) expect(['success', 'failed', 'skipped']).toContain(state);
    }
  });
});

describe('DELETE of a DAG and its runs while other clients read, page and change it', () => {
  it('answers every request 2xx or 4xx as documented, never 500, over 10 rounds', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 10; round++) {
      const dagId = `churn_${round}`;
      const [version] = await seedDag(api.prisma, dagId, [smallDag(dagId)]);
      for (const runId of ['a', 'b', 'c'])
        await seedRun(api.prisma, {
          dagId,
          runId,
          versionId: version!,
          state: 'success',
          tis: [
            { taskId: 'extract', state: 'success' },
            { taskId: 'transform', state: 'failed' },
            { taskId: 'load', state: 'upstream_failed' },
          ],
        });
      const base = `/api/v2/dags/${dagId}`;
      const requests: [string, string, unknown?][] = [
        ['DELETE', base],
        ['DELETE', `${base}/dagRuns/b`],
        ['GET', '/api/v2/dags?limit=2&offset=1'],
        ['GET', base],
        ['GET', `${base}/details`],
        ['GET', `${base}/tasks`],
        ['GET', `${base}/dagRuns?limit=2`],
        ['GET', `${base}/dagRuns/a`],
        ['GET', `${base}/dagRuns/a/taskInstances`],
        ['GET', `${base}/dagRuns/a/taskInstances/extract`],
        ['GET', `${base}/dagRuns/a/taskInstances/extract/tries`],
        ['GET', `${base}/dagRuns/a/taskInstances/transform/dependencies`],
        ['GET', `${base}/dagRuns/a/structure`],
        ['GET', `${base}/dagVersions`],
        ['GET', `${base}/dagVersions/1/structure`],
        ['GET', `/api/v2/dagSources/${dagId}`],
        ['GET', `/api/v2/dagStats?dag_ids=${dagId}`],
        ['GET', '/api/v2/dags/~/dagRuns?limit=5'],
        ['POST', '/api/v2/dags/~/dagRuns/~/taskInstances/list', { dag_ids: [dagId] }],
        ['PATCH', base, { is_paused: true }],
        ['PATCH', `${base}?update_mask=is_paused`, { is_paused: false }],
        ['PATCH', `${base}/dagRuns/c`, { note: 'seen' }],
        ['PATCH', `${base}/dagRuns/a/taskInstances/transform`, { new_state: 'success' }],
        ['POST', `${base}/dagRuns/c/clear`, { dry_run: false, only_failed: true }],
        ['POST', `${base}/clearTaskInstances`, { dry_run: false, dag_run_id: 'a' }],
        ['POST', `${base}/dagRuns`, { logical_date: null }],
      ];
      const answers = await Promise.all(
        requests.map(([method, url, json]) => send(method, url, json)),
      );
      statuses.push(...answers.map((a) => a.status));
      // Whatever the order of the round, the DAG is gone before the next one.
      await (await api.request(base, { method: 'DELETE' })).arrayBuffer();
    }
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
  });

  it('answers pause/unpause storms on one DAG with 200s and ends in the last state written', async () => {
    await seedDag(api.prisma, 'storm', [smallDag('storm')]);
    const before = await api.prisma.eventLog.aggregate({ _max: { id: true } });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 4 === 3
          ? send('PATCH', '/api/v2/dags?dag_id_pattern=storm', { is_paused: i % 8 === 3 })
          : send('PATCH', '/api/v2/dags/storm', { is_paused: i % 2 === 0 }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    // Each change took the DAG's row lock before writing its event: event order is change order.
    const last = await api.prisma.eventLog.findFirstOrThrow({
      where: { id: { gt: before._max.id ?? 0 }, event: { in: ['patch_dag', 'patch_dags'] } },
      orderBy: { id: 'desc' },
    });
    expect(
      await api.prisma.eventLog.count({
        where: { id: { gt: before._max.id ?? 0 }, event: { in: ['patch_dag', 'patch_dags'] } },
      }),
    ).toBe(40);
    const dag = await api.prisma.dag.findUniqueOrThrow({ where: { dagId: 'storm' } });
    expect((JSON.parse(last.extra!) as { is_paused: boolean }).is_paused).toBe(dag.isPaused);
    const listed = await send('GET', '/api/v2/dags/storm');
    expect(listed.json.is_paused).toBe(dag.isPaused);
  });
});

describe('GET /dags from the listing cache during a pause storm', () => {
  it('serves the last state written once the storm is over, however reads and writes interleaved', async () => {
    const cached = await startTestApi({ db: api.db, listingCache: {} });
    try {
      await seedDag(api.prisma, 'cached_storm', [smallDag('cached_storm')]);
      const listing = '/api/v2/dags?dag_id_pattern=cached_storm';
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          i % 2 === 0
            ? cached.request(listing)
            : cached.request('/api/v2/dags/cached_storm', {
                method: 'PATCH',
                json: { is_paused: i % 4 === 1 },
              }),
        ),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        await answer.arrayBuffer();
      }
      const dag = await api.prisma.dag.findUniqueOrThrow({ where: { dagId: 'cached_storm' } });
      const body = (await (await cached.request(listing)).json()) as { dags: any[] };
      expect(body.dags.map((d) => d.is_paused)).toEqual([dag.isPaused]);
      expect(cached.listings.counts.hit + cached.listings.counts.miss).toBeGreaterThan(0);
    } finally {
      await cached.close();
    }
  });
});

describe('200 requests at once', () => {
  it('answers each one as documented, with no 500 (a pool wait past its timeout is a 503 with a detail)', async () => {
    const [version] = await seedDag(api.prisma, 'load', [smallDag('load')]);
    await seedRun(api.prisma, {
      dagId: 'load',
      runId: 'r',
      versionId: version!,
      tis: [{ taskId: 'extract', state: 'failed' }],
    });
    const urls: [string, string, unknown?][] = [
      ['GET', '/api/v2/dags'],
      ['GET', '/api/v2/dags/load/dagRuns/r/taskInstances'],
      ['GET', '/api/v2/dags/~/dagRuns'],
      ['GET', '/api/v2/eventLogs?limit=5'],
      ['POST', '/api/v2/dags/load/dagRuns', { logical_date: null }],
      ['POST', '/api/v2/dags/load/dagRuns/r/clear', { dry_run: false }],
      ['PATCH', '/api/v2/dags/load', { is_paused: false }],
      ['GET', '/api/v2/dags/load/dagVersions/1/structure'],
    ];
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const [method, url, json] = urls[i % urls.length]!;
        return send(method, url, json);
      }),
    );
    const statuses = count(answers.map((a) => a.status));
    expect(Object.keys(statuses).every((status) => ['200', '503'].includes(status))).toBe(true);
    for (const answer of answers.filter((a) => a.status === 503))
      expect(answer.json.detail).toMatch(/database/);
  });
});

describe('ETag of a structure while its DAG is deleted and parsed anew', () => {
  it('answers 404 once the DELETE answered, then 200 with a new tag (never 304) for the new version 1', async () => {
    const url = '/api/v2/dags/reborn/dagVersions/1/structure';
    await seedDag(api.prisma, 'reborn', [smallDag('reborn')]);
    const first = await send('GET', url);
    expect(first.status).toBe(200);
    const response = await api.request(url);
    const etag = response.headers.get('etag')!;
    await response.arrayBuffer();
    expect((await send('DELETE', '/api/v2/dags/reborn')).status).toBe(204);
    expect((await send('GET', url)).status).toBe(404);
    // The DAG processor parses the file again, changed meanwhile: version 1 once more.
    await seedDag(api.prisma, 'reborn', [
      smallDag('reborn', { tasks: [{ task_id: 'only', operator: 'empty' }] }),
    ]);
    const again = await api.request(url, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).not.toBe(etag);
    expect(JSON.stringify(await again.json())).toContain('only');
  });
});
