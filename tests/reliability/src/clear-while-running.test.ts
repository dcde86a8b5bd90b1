/**
 * Clear and mark-state calls on running runs while two schedulers work (issue 15): real API and
 * scheduler processes over one PostgreSQL, every call over HTTP. Each try of a task holds a lock
 * on its task instance while it lives (see `command`) and logs start/end markers, so the files
 * show what the database cannot:
 * - no try ever runs while another try of the same task instance is alive;
 * - the live task processes, sampled, never exceed the two schedulers' parallelism;
 * - nothing is lost: once the calls stop and every run is cleared once more, every task instance
 *   ends success with an end marker of exactly its final try.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  client,
  FULL,
  scenarioEnv,
  scenarioFolder,
  sleep,
  startApi,
  startScheduler,
  tearDownScenario,
  waitFor,
} from './cluster.ts';
import { query } from './workload.ts';

const TOKEN = `churn-${randomBytes(12).toString('hex')}`;
const PARALLELISM = 3; // per scheduler
const RUNS = FULL ? 24 : 8;
const CHAOS_MS = FULL ? 180_000 : 25_000;
const TASKS = ['a', 'b', 'c', 'd'];

let db: TestDatabase;
let workDir: string;
let locks: string;
let live: string;
let markers: string;
let request: ReturnType<typeof client>;

/**
 * A try holds a kernel lock (flock) on `locks/<run>.<task>` while its shell lives: the kernel
 * releases it however the shell dies, so a lock can never be left behind by a SIGTERM that lands
 * before the shell's trap is set (a lock directory could, and then failed every later try of that
 * instance as an "overlap"). The sleep does not inherit the lock's descriptor. Beside it, a
 * directory `live/<run>.<task>` counts the live tries for the parallelism check.
 */
function command(): string {
  const id = '$AIRFLOW_CTX_DAG_RUN_ID.$AIRFLOW_CTX_TASK_ID';
  const line = `$AIRFLOW_CTX_DAG_RUN_ID $AIRFLOW_CTX_TASK_ID $AIRFLOW_CTX_TRY_NUMBER`;
  return [
    `exec 9>>"${locks}/${id}"`,
    `if ! flock -n 9; then echo "overlap ${line}" >> ${markers}/overlaps; exit 1; fi`,
    `d=${live}/${id}`,
    `trap 'rmdir "$d" 2>/dev/null; exit 143' TERM`,
    `mkdir -p "$d"`,
    `echo "start ${line}" >> ${markers}/log`,
    `sleep "$((RANDOM % 3 + 1)).$((RANDOM % 10))" 9>&- & wait $!`,
    `echo "end ${line}" >> ${markers}/log`,
    `rmdir "$d"`,
  ].join('\n');
}

beforeAll(async () => {
  db = await createTestDatabase();
  const folder = await scenarioFolder('clear-while-running');
  workDir = folder.workDir;
  locks = join(workDir, 'locks');
  markers = join(workDir, 'markers');
  await mkdir(locks);
  live = join(workDir, 'live');
  await mkdir(live);
  await mkdir(markers);
  await writeFile(
    join(folder.dagsFolder, 'churn.json'),
    JSON.stringify({
      dag_id: 'churn',
      max_active_runs: RUNS,
      tasks: TASKS.map((taskId, i) => ({
        task_id: taskId,
        operator: 'bash',
        bash_command: command(),
        retries: 2,
        retry_delay_seconds: 0,
        upstream: i === 3 ? ['a', 'b'] : [],
      })),
    }),
  );
  const env = scenarioEnv(db.url, folder, {
    API_AUTH_TOKENS: TOKEN,
    TASK_HEARTBEAT_INTERVAL_SECONDS: '1',
    TASK_HEARTBEAT_TIMEOUT_SECONDS: '15',
    SCHEDULER_PARALLELISM: String(PARALLELISM),
  });
  await startScheduler('scheduler-churn-1', env);
  await startScheduler('scheduler-churn-2', env);
  const api = await startApi('api-churn', env);
  request = client(api.url, TOKEN);
  await waitFor(
    'the DAG is stored',
    async () => (await request('/api/v2/dags/churn')).status === 200,
    30_000,
  );
}, 120_000);

afterAll(() => tearDownScenario({ releaseDatabase: () => db?.drop(), workDir }));

const runIds = Array.from({ length: RUNS }, (_, i) => `churn_${String(i).padStart(2, '0')}`);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

async function runStates(): Promise<Map<string, string>> {
  const rows = await query<{ run_id: string; state: string }>(
    db.url,
    "SELECT run_id, state FROM dag_run WHERE dag_id = 'churn'",
  );
  return new Map(rows.map((row) => [row.run_id, row.state]));
}

/** What is not yet success, to say why a wait ran out: runs and their task instances. */
async function unfinished(): Promise<string> {
  const rows = await query<{ run: string; tis: string }>(
    db.url,
    `SELECT r.run_id || ' ' || r.state AS run,
            string_agg(ti.task_id || '=' || coalesce(ti.state, 'none') || '#' || ti.try_number
                       || coalesce('@' || ti.queued_by_job_id::text, ''), ' ' ORDER BY ti.task_id) AS tis
       FROM dag_run r
       LEFT JOIN task_instance ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
      WHERE r.dag_id = 'churn' AND r.state <> 'success'
      GROUP BY r.run_id, r.state`,
  );
  return `not success: ${rows.map((row) => `${row.run} [${row.tis}]`).join('; ')}`;
}

describe('clear and mark-state calls on running runs, two schedulers', () => {
  it(
    'never run two tries of a task instance at once, never exceed parallelism, and lose nothing',
    async () => {
      for (const runId of runIds) {
        const response = await request('/api/v2/dags/churn/dagRuns', {
          method: 'POST',
          json: { dag_run_id: runId, logical_date: null },
        });
        expect(response.status, JSON.stringify(response.body)).toBe(200);
      }

      // Sampling: live task processes (lock directories) and, per job, what the database says.
      let maxLive = 0;
      let maxPerJob = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          maxLive = Math.max(maxLive, (await readdir(live)).length);
          const perJob = await query<{ n: number }>(
            db.url,
            "SELECT count(*)::int AS n FROM task_instance WHERE state IN ('queued', 'running') GROUP BY queued_by_job_id",
          );
          for (const row of perJob) maxPerJob = Math.max(maxPerJob, row.n);
          await sleep(100);
        }
      })();

      const calls: Record<string, number> = {};
      const count = (what: string, status: number) => {
        const key = `${what} ${status}`;
        calls[key] = (calls[key] ?? 0) + 1;
      };
      const chaosEnd = Date.now() + CHAOS_MS;
      while (Date.now() < chaosEnd) {
        const runId = pick(runIds);
        const action = pick(['clear', 'clear', 'fail', 'succeed', 'task']);
        const base = `/api/v2/dags/churn/dagRuns/${runId}`;
        if (action === 'clear') {
          count(
            'clear',
            (await request(`${base}/clear`, { method: 'POST', json: { dry_run: false } })).status,
          );
        } else if (action === 'fail' || action === 'succeed') {
          const state = action === 'fail' ? 'failed' : 'success';
          count(
            `mark run ${state}`,
            (await request(base, { method: 'PATCH', json: { state } })).status,
          );
        } else {
          const state = pick(['success', 'failed']);
          count(
            `mark task ${state}`,
            (
              await request(`${base}/taskInstances/${pick(TASKS)}`, {
                method: 'PATCH',
                json: { new_state: state },
              })
            ).status,
          );
        }
        await sleep(150 + Math.random() * 350);
      }

      // Calm: clear every run once and let both schedulers finish them undisturbed.
      await waitFor(
        'every run ends after the calls',
        async () =>
          [...(await runStates()).values()].every((s) => s === 'success' || s === 'failed'),
        120_000,
        500,
      );
      for (const runId of runIds) {
        const response = await request(`/api/v2/dags/churn/dagRuns/${runId}/clear`, {
          method: 'POST',
          json: { dry_run: false },
        });
        expect(response.status).toBe(200);
      }
      try {
        await waitFor(
          'every run succeeds after the final clear',
          async () => [...(await runStates()).values()].every((s) => s === 'success'),
          180_000,
          500,
        ).catch(async (error: unknown) => {
          throw new Error(
            `${String(error)}; ${await unfinished()}; calls ${JSON.stringify(calls)}`,
          );
        });
      } finally {
        sampling = false;
        await sampler;
      }

      console.log(
        `clear-while-running: ${JSON.stringify(calls)}; max live tries ${maxLive} (limit ${2 * PARALLELISM}); max queued+running per job ${maxPerJob} (limit ${PARALLELISM})`,
      );
      const overlaps = await readFile(join(markers, 'overlaps'), 'utf8').catch(() => '');
      expect(overlaps, 'tries that found another try of their task instance alive').toBe('');
      expect(maxLive).toBeLessThanOrEqual(2 * PARALLELISM);
      expect(maxPerJob).toBeLessThanOrEqual(PARALLELISM);

      const log = (await readFile(join(markers, 'log'), 'utf8')).trim().split('\n');
      const ended = new Set(log.filter((l) => l.startsWith('end ')).map((l) => l.slice(4)));
      const instances = await query<{
        run_id: string;
        task_id: string;
        state: string;
        try_number: number;
      }>(
        db.url,
        "SELECT run_id, task_id, state, try_number FROM task_instance WHERE dag_id = 'churn'",
      );
      expect(instances).toHaveLength(RUNS * TASKS.length);
      const lost = instances.filter(
        (ti) => ti.state !== 'success' || !ended.has(`${ti.run_id} ${ti.task_id} ${ti.try_number}`),
      );
      expect(lost, JSON.stringify(calls)).toEqual([]);
      expect((await readdir(live)).length).toBe(0);
      // The calls did happen, and hit running runs.
      expect(Object.keys(calls).some((key) => key.startsWith('clear 200'))).toBe(true);
    },
    FULL ? 900_000 : 300_000,
  );
});
