/**
 * The API's run and task instance operations against a real scheduler: real API and scheduler
 * processes over one PostgreSQL, tasks that leave marker files, every call over HTTP. What a unit
 * test cannot show: that a clear makes exactly the chosen tasks execute once more, that the tries
 * of a retried task are each recorded with their own state and times, that `wait` streams until
 * the scheduler ends the run, and what the scheduler does after a task is set failed with its
 * downstream.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  client,
  scenarioEnv,
  scenarioFolder,
  startApi,
  startScheduler,
  tearDownScenario,
  waitFor,
} from './cluster.ts';

const TOKEN = `ops-${randomBytes(12).toString('hex')}`;

let db: TestDatabase;
let workDir: string;
let markers: string;
let request: ReturnType<typeof client>;
let apiUrl: string;

/** A bash task that appends a line to its marker file, after `sleep` seconds. */
const marking = (taskId: string, upstream: string[] = [], sleep = 0) => ({
  task_id: taskId,
  operator: 'bash',
  bash_command: `${sleep > 0 ? `sleep ${sleep}; ` : ''}echo ran >> ${join(markers, taskId)}`,
  upstream,
});

/** How many times the task's command ran to its end (lines in its marker file). */
async function timesRan(taskId: string): Promise<number> {
  try {
    return (await readFile(join(markers, taskId), 'utf8')).split('\n').length - 1;
  } catch {
    return 0;
  }
}

async function runState(dagId: string, runId: string): Promise<string> {
  const response = await request(`/api/v2/dags/${dagId}/dagRuns/${runId}`);
  return String(response.body.state);
}

async function states(dagId: string, runId: string): Promise<Record<string, unknown>> {
  const response = await request(`/api/v2/dags/${dagId}/dagRuns/${runId}/taskInstances`);
  const list = response.body.task_instances as { task_id: string; state: unknown }[];
  return Object.fromEntries(list.map((ti) => [ti.task_id, ti.state]));
}

async function trigger(dagId: string, runId: string): Promise<void> {
  const response = await request(`/api/v2/dags/${dagId}/dagRuns`, {
    method: 'POST',
    json: { dag_run_id: runId, logical_date: null },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
}

const finished = (dagId: string, runId: string) => async () =>
  ['success', 'failed'].includes(await runState(dagId, runId));

beforeAll(async () => {
  db = await createTestDatabase();
  const folder = await scenarioFolder('api-ops');
  workDir = folder.workDir;
  markers = join(workDir, 'markers');
  await mkdir(markers);
  const dags = {
    chain: [marking('a'), marking('b', ['a']), marking('c', ['b'])],
    slow: [marking('first', [], 30), marking('second', ['first']), marking('third', ['second'])],
    short: [marking('nap', [], 1.5)],
    flaky: [
      {
        task_id: 'flaky',
        operator: 'bash',
        bash_command: `if [ -e ${join(markers, 'flaky-once')} ]; then echo $((40 + 2)); else touch ${join(markers, 'flaky-once')}; exit 1; fi`,
        retries: 1,
        retry_delay_seconds: 1,
      },
    ],
  };
  for (const [dagId, tasks] of Object.entries(dags))
    await writeFile(
      join(folder.dagsFolder, `${dagId}.json`),
      JSON.stringify({ dag_id: dagId, tasks }),
    );
  const env = scenarioEnv(db.url, folder, {
    API_AUTH_TOKENS: TOKEN,
    TASK_HEARTBEAT_INTERVAL_SECONDS: '1',
  });
  await startScheduler('scheduler-ops', env);
  const api = await startApi('api-ops', env);
  apiUrl = api.url;
  request = client(api.url, TOKEN);
  await waitFor(
    'the four DAGs are stored',
    async () =>
      (
        await Promise.all(
          Object.keys(dags).map(async (id) => (await request(`/api/v2/dags/${id}`)).status),
        )
      ).every((status) => status === 200),
    30_000,
  );
}, 120_000);

afterAll(() => tearDownScenario({ releaseDatabase: () => db?.drop(), workDir }));

describe('task instance operations with a real scheduler', () => {
  it('clearTaskInstances reruns exactly the selected tasks, each once more', async () => {
    await trigger('chain', 'r1');
    await waitFor(
      'chain r1 succeeds',
      async () => (await runState('chain', 'r1')) === 'success',
      30_000,
    );
    expect([await timesRan('a'), await timesRan('b'), await timesRan('c')]).toEqual([1, 1, 1]);

    const dry = await request('/api/v2/dags/chain/clearTaskInstances', {
      method: 'POST',
      json: { dag_run_id: 'r1', only_failed: false, task_ids: ['b'] },
    });
    expect((dry.body.task_instances as { task_id: string }[]).map((t) => t.task_id)).toEqual(['b']);
    expect(await runState('chain', 'r1')).toBe('success');

    const cleared = await request('/api/v2/dags/chain/clearTaskInstances', {
      method: 'POST',
      json: { dry_run: false, dag_run_id: 'r1', only_failed: false, task_ids: ['b'] },
    });
    expect(cleared.status).toBe(200);
    await waitFor(
      'chain r1 succeeds again',
      async () => (await runState('chain', 'r1')) === 'success' && (await timesRan('b')) === 2,
      30_000,
    );
    expect([await timesRan('a'), await timesRan('b'), await timesRan('c')]).toEqual([1, 2, 1]);

    // With include_downstream, b's downstream c runs once more too; a does not.
    await request('/api/v2/dags/chain/clearTaskInstances', {
      method: 'POST',
      json: {
        dry_run: false,
        dag_run_id: 'r1',
        only_failed: false,
        task_ids: ['b'],
        include_downstream: true,
      },
    });
    await waitFor(
      'chain r1 succeeds a third time',
      async () => (await timesRan('c')) === 2 && (await runState('chain', 'r1')) === 'success',
      30_000,
    );
    expect([await timesRan('a'), await timesRan('b'), await timesRan('c')]).toEqual([1, 3, 2]);
    const tries = await request('/api/v2/dags/chain/dagRuns/r1/taskInstances/b/tries');
    expect(
      (tries.body.task_instances as { try_number: number; state: string }[]).map((t) => [
        t.try_number,
        t.state,
      ]),
    ).toEqual([
      [1, 'success'],
      [2, 'success'],
      [3, 'success'],
    ]);
  });

  it('tries lists every try of a retried task with its own state and times', async () => {
    await trigger('flaky', 'r1');
    await waitFor('flaky r1 ends', finished('flaky', 'r1'), 30_000);
    expect(await runState('flaky', 'r1')).toBe('success');
    const response = await request('/api/v2/dags/flaky/dagRuns/r1/taskInstances/flaky/tries');
    expect(response.status).toBe(200);
    const tries = response.body.task_instances as {
      try_number: number;
      state: string;
      start_date: string;
      end_date: string;
    }[];
    expect(tries.map((t) => [t.try_number, t.state])).toEqual([
      [1, 'failed'],
      [2, 'success'],
    ]);
    expect(Date.parse(tries[0]!.end_date)).toBeLessThanOrEqual(Date.parse(tries[1]!.start_date));
    expect(tries[0]!.start_date).not.toBe(tries[1]!.start_date);
    const first = await request('/api/v2/dags/flaky/dagRuns/r1/taskInstances/flaky/tries/1');
    expect(first.body).toMatchObject({ try_number: 1, state: 'failed' });
    const log1 = await request(
      '/api/v2/dags/flaky/dagRuns/r1/taskInstances/flaky/logs/1?full_content=true',
    );
    const log2 = await request(
      '/api/v2/dags/flaky/dagRuns/r1/taskInstances/flaky/logs/2?full_content=true',
    );
    // Each try has its own log: only the second printed 42.
    const events = (log: { body: unknown }) =>
      (log.body as { content: { event: string }[] }).content.map((line) => line.event);
    expect(events(log2)).toContain('42');
    expect(events(log1)).not.toContain('42');
  });

  it('wait streams the run state until the scheduler ends the run', async () => {
    await trigger('short', 'r1');
    const started = Date.now();
    const response = await fetch(`${apiUrl}/api/v2/dags/short/dagRuns/r1/wait?interval=0.2`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(30_000),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.at(-1)).toEqual({ state: 'success' });
    expect(lines.slice(0, -1).every((l) => l.state === 'queued' || l.state === 'running')).toBe(
      true,
    );
  });

  it('setting a running task failed with include_downstream fails it and its downstream ends upstream_failed, as Airflow', async () => {
    await trigger('slow', 'r1');
    await waitFor(
      'first is running',
      async () => (await states('slow', 'r1')).first === 'running',
      30_000,
    );
    const patched = await request('/api/v2/dags/slow/dagRuns/r1/taskInstances/first', {
      method: 'PATCH',
      json: { new_state: 'failed', include_downstream: true },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.task_instances).toMatchObject([{ task_id: 'first', state: 'failed' }]);
    // Airflow marks the downstream failed, then clears the task's failed downstream so the
    // scheduler decides it again: with its upstream failed, it is upstream_failed.
    await waitFor('slow r1 ends', finished('slow', 'r1'), 30_000);
    expect(await runState('slow', 'r1')).toBe('failed');
    expect(await states('slow', 'r1')).toEqual({
      first: 'failed',
      second: 'upstream_failed',
      third: 'upstream_failed',
    });
    // The running try was taken away and its process stopped (it would have slept 30 s).
    await waitFor(
      "first's process is stopped",
      async () => {
        const log = await request(
          '/api/v2/dags/slow/dagRuns/r1/taskInstances/first/logs/1?full_content=true',
        );
        const lines = (log.body as { content?: { event: string }[] }).content ?? [];
        return lines.some((line) => line.event.startsWith('killed by'));
      },
      15_000,
    );
    expect(await timesRan('first')).toBe(0);
  });
});
