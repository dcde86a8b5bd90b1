/**
 * A triggered run has its task instances at once (state null), as Airflow's create_dagrun makes
 * them: an API client lists, patches and clears them while the run is queued, and the scheduler
 * (a real process on the same PostgreSQL) then runs the run with those instances, each task once.
 */
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

beforeAll(async () => {
  both = await startApiAndScheduler('dagbag-queued-tis-');
  api = both.api;
  const dagsFolder = both.dagsFolder;
  markers = join(both.workDir, 'markers');
  mkdirSync(markers);
  // Each execution of a task leaves one marker named after its run and task. Paused at first,
  // so triggered runs stay queued until the test unpauses the DAG.
  const touch = `touch ${markers}/$AIRFLOW_CTX_DAG_RUN_ID.$AIRFLOW_CTX_TASK_ID.$RANDOM$$`;
  writeFileSync(
    join(dagsFolder, 'chain.json'),
    JSON.stringify({
      dag_id: 'chain',
      is_paused_upon_creation: true,
      tasks: [
        { task_id: 'a', operator: 'bash', bash_command: touch, retries: 2 },
        { task_id: 'b', operator: 'bash', bash_command: touch, upstream: ['a'] },
        { task_id: 'c', operator: 'bash', bash_command: touch, upstream: ['b'] },
      ],
    }),
  );
  scheduler = await both.startScheduler();
  await until(async () => (await api.request('/api/v2/dags/chain')).status === 200, 30_000);
}, 60_000);

afterAll(() => both?.close());

const until = (done: () => Promise<boolean>, timeoutMs?: number) =>
  scheduler.until(done, timeoutMs);

async function get(path: string): Promise<any> {
  return (await api.request(path)).json();
}

const trigger = (runId: string) =>
  api.request('/api/v2/dags/chain/dagRuns', {
    method: 'POST',
    json: { dag_run_id: runId, logical_date: null },
  });
const instances = async (runId: string) =>
  (await get(`/api/v2/dags/chain/dagRuns/${runId}/taskInstances?order_by=task_id`))
    .task_instances as { task_id: string; state: string | null; try_number: number }[];
/** How many times each task of a run executed (one marker per execution). */
function executions(runId: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of readdirSync(markers)) {
    const [run, task] = name.split('.');
    if (run === runId) counts[task!] = (counts[task!] ?? 0) + 1;
  }
  return counts;
}

describe('the task instances of a queued run (real API + real scheduler process)', () => {
  it('a triggered run lists its task instances at once, state null, with the version it was created on', async () => {
    const body: any = await (await trigger('listed')).json();
    expect(body.state).toBe('queued');
    const listed: any = await get('/api/v2/dags/chain/dagRuns/listed/taskInstances');
    expect(listed.total_entries).toBe(3);
    expect(
      listed.task_instances.map((ti: any) => [ti.task_id, ti.state, ti.try_number, ti.max_tries]),
    ).toEqual(
      expect.arrayContaining([
        ['a', null, 0, 2],
        ['b', null, 0, 0],
        ['c', null, 0, 0],
      ]),
    );
    const versionIds = body.dag_versions.map((version: { id: string }) => version.id);
    for (const ti of listed.task_instances) expect(versionIds).toContain(ti.dag_version.id);
  });

  it('a task of a queued run can be patched, and the scheduler keeps that state when it starts the run', async () => {
    expect((await trigger('patched')).status).toBe(200);
    const patched = await api.request('/api/v2/dags/chain/dagRuns/patched/taskInstances/a', {
      method: 'PATCH',
      json: { new_state: 'success' },
    });
    expect(patched.status).toBe(200);
    expect((await instances('patched')).map((ti) => [ti.task_id, ti.state])).toEqual([
      ['a', 'success'],
      ['b', null],
      ['c', null],
    ]);
  });

  it('once unpaused, the scheduler runs each run to success, every task not patched exactly once', async () => {
    const unpause = await api.request('/api/v2/dags/chain', {
      method: 'PATCH',
      json: { is_paused: false },
    });
    expect(unpause.status).toBe(200);
    for (const runId of ['listed', 'patched'])
      await until(
        async () => (await get(`/api/v2/dags/chain/dagRuns/${runId}`)).state === 'success',
        30_000,
      );
    expect(executions('listed')).toEqual({ a: 1, b: 1, c: 1 });
    expect(executions('patched')).toEqual({ b: 1, c: 1 });
    expect((await instances('listed')).map((ti) => [ti.state, ti.try_number])).toEqual([
      ['success', 1],
      ['success', 1],
      ['success', 1],
    ]);
    expect((await instances('patched')).map((ti) => [ti.state, ti.try_number])).toEqual([
      ['success', 0],
      ['success', 1],
      ['success', 1],
    ]);
  });
});
