/**
 * Pausing, as Airflow: through the real API over HTTP and a real scheduler process on the same
 * PostgreSQL. A paused DAG gets no scheduled runs and the scheduler starts none of its tasks
 * (a running one finishes); a trigger is accepted and its run waits queued; unpausing resumes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startApiAndScheduler,
  type ApiAndScheduler,
  type TestApi,
  type TestScheduler,
} from './testing/harness.ts';

let both: ApiAndScheduler;
let api: TestApi;
let scheduler: TestScheduler;
let markers: string;

const HOUR = 3_600_000;
// Far more due intervals than a scheduler can create while this file runs, even one loop after
// another (a loop that created a run is followed at once by the next).
const BACKLOG_HOURS = 20_000;

beforeAll(async () => {
  both = await startApiAndScheduler('dagbag-pause-');
  api = both.api;
  const dagsFolder = both.dagsFolder;
  markers = join(both.workDir, 'markers');
  mkdirSync(markers);
  // Scheduled every hour since BACKLOG_HOURS ago, with catchup: due runs keep appearing, about one
  // per scheduler loop, for as long as it may run (far longer than this test waits).
  writeFileSync(
    join(dagsFolder, 'hourly.json'),
    JSON.stringify({
      dag_id: 'hourly',
      schedule: '@hourly',
      start_date: new Date(
        Math.floor(Date.now() / HOUR) * HOUR - BACKLOG_HOURS * HOUR,
      ).toISOString(),
      catchup: true,
      is_paused_upon_creation: true,
      tasks: [{ task_id: 'tick', operator: 'empty' }],
    }),
  );
  // Manual: `first` runs a while, `second` waits for it; each leaves a marker when it runs.
  writeFileSync(
    join(dagsFolder, 'work.json'),
    JSON.stringify({
      dag_id: 'work',
      is_paused_upon_creation: true,
      tasks: [
        {
          task_id: 'first',
          operator: 'bash',
          bash_command: `touch ${markers}/first_$RANDOM$$; sleep 3`,
        },
        {
          task_id: 'second',
          operator: 'bash',
          bash_command: `touch ${markers}/second_$RANDOM$$`,
          upstream: ['first'],
        },
      ],
    }),
  );
  scheduler = await both.startScheduler();
  await until(async () => (await api.request('/api/v2/dags/work')).status === 200, 30_000);
  await until(async () => (await api.request('/api/v2/dags/hourly')).status === 200, 30_000);
}, 60_000);

afterAll(() => both?.close());

const until = (done: () => Promise<boolean>, timeoutMs?: number) =>
  scheduler.until(done, timeoutMs);

async function get(path: string): Promise<any> {
  return (await api.request(path)).json();
}

const pause = (dagId: string, isPaused: boolean) =>
  api.request(`/api/v2/dags/${dagId}`, { method: 'PATCH', json: { is_paused: isPaused } });

const scheduledRuns = async () =>
  (await get('/api/v2/dags/hourly/dagRuns?run_type=scheduled')).total_entries as number;
const runState = async (runId: string) =>
  (await get(`/api/v2/dags/work/dagRuns/${runId}`)).state as string;
const taskState = async (runId: string, taskId: string) =>
  (await get(`/api/v2/dags/work/dagRuns/${runId}/taskInstances/${taskId}`)).state as string | null;
/** How many times a task ran: each run of it leaves one marker file. */
const markersOf = (taskId: string) =>
  readdirSync(markers).filter((name) => name.startsWith(`${taskId}_`)).length;

describe('pausing a DAG (real API + real scheduler process)', () => {
  it('a DAG whose file says is_paused_upon_creation starts paused and gets no scheduled run', async () => {
    expect((await get('/api/v2/dags/hourly')).is_paused).toBe(true);
    await sleep(2_000);
    expect(await scheduledRuns()).toBe(0);
  });

  it('a trigger of a paused DAG is accepted and its run waits queued, no task started', async () => {
    const response = await api.request('/api/v2/dags/work/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'while_paused', logical_date: null },
    });
    expect(response.status).toBe(200);
    await sleep(2_000);
    expect(await runState('while_paused')).toBe('queued');
    expect(markersOf('first')).toBe(0);
  });

  it('unpausing resumes: the queued run runs, and the schedule catches up', async () => {
    expect((await pause('work', false)).status).toBe(200);
    expect((await pause('hourly', false)).status).toBe(200);
    await until(async () => (await runState('while_paused')) === 'success', 30_000);
    expect(markersOf('first')).toBe(1);
    expect(markersOf('second')).toBe(1);
    await until(async () => (await scheduledRuns()) >= 3, 30_000);
  });

  it('pausing stops new scheduled runs', async () => {
    expect((await pause('hourly', true)).status).toBe(200);
    await sleep(1_000); // a loop that began before the pause may still finish its step
    const before = await scheduledRuns();
    expect(before).toBeLessThan(BACKLOG_HOURS);
    await sleep(3_000);
    expect(await scheduledRuns()).toBe(before);
  });

  it('pausing mid-run lets the running task finish but starts no further task; unpausing resumes', async () => {
    await api.request('/api/v2/dags/work/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'paused_mid_run', logical_date: null },
    });
    await until(async () => (await taskState('paused_mid_run', 'first')) === 'running');
    expect((await pause('work', true)).status).toBe(200);
    await until(async () => (await taskState('paused_mid_run', 'first')) === 'success', 30_000);
    await sleep(2_000);
    expect(['scheduled', null]).toContain(await taskState('paused_mid_run', 'second'));
    expect(markersOf('second')).toBe(1); // only the earlier run's
    expect(await runState('paused_mid_run')).toBe('running');
    expect((await pause('work', false)).status).toBe(200);
    await until(async () => (await runState('paused_mid_run')) === 'success', 30_000);
    expect(markersOf('second')).toBe(2);
  });

  it('records each pause and unpause in the event log', async () => {
    const body = await get('/api/v2/eventLogs?event=patch_dag&dag_id=work&order_by=id');
    expect(body.event_logs.map((e: { extra: string }) => JSON.parse(e.extra).is_paused)).toEqual([
      false,
      true,
      false,
    ]);
    expect(body.event_logs[0].owner).toMatch(/^token:/);
  });
});
