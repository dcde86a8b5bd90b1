/**
 * Clearing a running run over HTTP while a real scheduler process runs its task: the running try
 * is stopped before the next try starts (issue 16 item 2; the executor side is pinned in
 * apps/scheduler/src/executor/tries.test.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiAndScheduler, type ApiAndScheduler, type TestApi } from './testing/harness.ts';

let both: ApiAndScheduler;
let api: TestApi;

async function markers(file: string): Promise<{ kind: string; tryNumber: number; at: number }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind, tryNumber, at] = line.split(' ');
      return { kind: kind!, tryNumber: Number(tryNumber), at: Number(at) };
    });
}

beforeAll(async () => {
  both = await startApiAndScheduler('dagbag-clear-running-');
  api = both.api;
});

afterAll(() => both?.close());

describe('POST .../dagRuns/{run}/clear on a running run', () => {
  it('stops the running try before the next try starts, and the run then succeeds', async () => {
    const file = join(both.workDir, 'markers');
    const body = 'if [ "$AIRFLOW_CTX_TRY_NUMBER" = 1 ]; then sleep 6; else sleep 1; fi';
    await writeFile(
      join(both.dagsFolder, 'cleared.json'),
      JSON.stringify({
        dag_id: 'cleared',
        tasks: [
          {
            task_id: 't',
            operator: 'bash',
            retries: 1,
            retry_delay_seconds: 0,
            bash_command: `echo "start $AIRFLOW_CTX_TRY_NUMBER $(date +%s%3N)" >> ${file}; ${body}; echo "end $AIRFLOW_CTX_TRY_NUMBER $(date +%s%3N)" >> ${file}`,
          },
        ],
      }),
    );
    const scheduler = await both.startScheduler({ TASK_HEARTBEAT_INTERVAL_SECONDS: '1' });
    await scheduler.until(
      async () => (await api.request('/api/v2/dags/cleared')).status === 200,
      30_000,
    );
    const triggered = await api.request('/api/v2/dags/cleared/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'r1', logical_date: null },
    });
    expect(triggered.status).toBe(200);
    const tiState = async () => {
      const res = await api.request('/api/v2/dags/cleared/dagRuns/r1/taskInstances');
      const page = (await res.json()) as { task_instances: { state: string | null }[] };
      return page.task_instances[0]?.state ?? null;
    };
    await scheduler.until(async () => (await tiState()) === 'running', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // well into try 1

    const cleared = await api.request('/api/v2/dags/cleared/dagRuns/r1/clear', {
      method: 'POST',
      json: { dry_run: false },
    });
    expect(cleared.status).toBe(200);
    const runState = async () =>
      ((await (await api.request('/api/v2/dags/cleared/dagRuns/r1')).json()) as { state: string })
        .state;
    await scheduler.until(async () => (await runState()) === 'success', 30_000);

    // Past the moment try 1 would have ended on its own.
    const firstStart = (await markers(file))[0]!.at;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, firstStart + 7_500 - Date.now())),
    );
    const lines = await markers(file);
    expect(lines.filter((m) => m.kind === 'start').map((m) => m.tryNumber)).toEqual([1, 2]);
    expect(lines.filter((m) => m.kind === 'end').map((m) => m.tryNumber)).toEqual([2]);
    const end1 = lines.find((m) => m.kind === 'end' && m.tryNumber === 1);
    expect(end1).toBeUndefined();
  }, 90_000);
});
