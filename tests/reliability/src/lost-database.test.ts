/**
 * Scenario 3: PostgreSQL (an embedded server of this test's own) is stopped under load and started
 * again on the same port and data directory. The API answers 503 with a `detail`, the schedulers
 * back off and log once per incident, both recover by themselves, and no run or execution is lost
 * or doubled.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTIFICATION_GAP_LOG } from '@dagbag/db';
import {
  client,
  FULL,
  isProcessAlive,
  pool,
  scenarioEnv,
  scenarioFolder,
  sleep,
  startApi,
  startOwnPostgres,
  startScheduler,
  tearDownScenario,
  tokensInLogs,
  waitFor,
  type ApiChild,
  type Child,
  type OwnPostgres,
} from './cluster.ts';
import { recordResult } from './results.ts';
import {
  TASK_COUNT,
  audit,
  runsOf,
  triggerWithFailover,
  writeMarkerDag,
  type Audit,
} from './workload.ts';

const OUTAGE_SECONDS = FULL ? 20 : 4;
const RUNS_BEFORE = FULL ? 60 : 6;
const RUNS_DURING = FULL ? 20 : 3;
/** Longer than the outage: a try whose heartbeat could not be written during it is not retried. */
const HEARTBEAT_TIMEOUT_SECONDS = OUTAGE_SECONDS * 3;
const DAG_ID = 'lost_db';
const TOKEN = `rel-${randomBytes(12).toString('hex')}`;
const OUTAGE_LOG =
  'scheduler cannot reach the database (or a query failed); backing off until it works again';
const RECOVERY_LOG = 'scheduler reaches the database again; resuming';

let postgres: OwnPostgres;
let workDir: string;
let markerFile: string;
let schedulers: Child[] = [];
let api: ApiChild;
let result: Audit;
const during: { status: number; detail: unknown; method: string }[] = [];
let recoveredAfterMs = 0;

beforeAll(
  async () => {
    postgres = await startOwnPostgres();
    const folder = await scenarioFolder('lostdb');
    const { dagsFolder } = folder;
    workDir = folder.workDir;
    markerFile = join(workDir, 'markers.txt');
    await writeMarkerDag(dagsFolder, DAG_ID, markerFile, { sleepSeconds: 0.5 });
    const env = scenarioEnv(postgres.url, folder, {
      TASK_HEARTBEAT_TIMEOUT_SECONDS: String(HEARTBEAT_TIMEOUT_SECONDS),
      SCHEDULER_DB_BACKOFF_MAX_MS: '1000',
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      API_AUTH_TOKENS: TOKEN,
      DATABASE_POOL_MAX: '5',
    });
    schedulers = await Promise.all([1, 2].map((n) => startScheduler(`scheduler-${n}`, env)));
    api = await startApi('api-1', env);
    const request = client(api.url, TOKEN);
    await waitFor(
      'the DAG is parsed',
      async () => (await request(`/api/v2/dags/${DAG_ID}`)).status === 200,
      60_000,
    );

    const before = Array.from({ length: RUNS_BEFORE }, (_, i) => `before_${i}`);
    await pool(
      before,
      4,
      async (runId, i) => void (await triggerWithFailover([api], TOKEN, DAG_ID, runId, i)),
    );
    await waitFor(
      'runs are running',
      async () => (await runsOf(postgres.url, DAG_ID)).some((run) => run.state === 'running'),
      30_000,
      50,
    );

    await postgres.stop();
    const outageStarted = Date.now();
    // Clients keep calling during the outage: reads, and triggers they will retry until stored.
    const duringIds = Array.from({ length: RUNS_DURING }, (_, i) => `during_${i}`);
    const triggers = Promise.all(
      duringIds.map((runId, i) =>
        sleep(i * 200).then(() => triggerWithFailover([api], TOKEN, DAG_ID, runId, 0)),
      ),
    );
    while (Date.now() - outageStarted < OUTAGE_SECONDS * 1000) {
      for (const [method, path, json] of [
        ['GET', `/api/v2/dags/${DAG_ID}/dagRuns`, undefined],
        ['GET', `/api/v2/dags/${DAG_ID}`, undefined],
        [
          'POST',
          `/api/v2/dags/${DAG_ID}/dagRuns`,
          { dag_run_id: `probe_${during.length}`, logical_date: null },
        ],
      ] as const) {
        const response = await request(path, { method, json, timeoutMs: 15_000 });
        if (response.status === 200) continue;
        during.push({ status: response.status, detail: response.body?.detail, method });
      }
      await sleep(250);
    }
    await postgres.start();
    const restarted = Date.now();
    await waitFor(
      'the API answers again',
      async () => (await request(`/api/v2/dags/${DAG_ID}/dagRuns?limit=1`)).status === 200,
      60_000,
      100,
    );
    recoveredAfterMs = Date.now() - restarted;
    await triggers;
    const after = Array.from({ length: RUNS_DURING }, (_, i) => `after_${i}`);
    await pool(
      after,
      4,
      async (runId, i) => void (await triggerWithFailover([api], TOKEN, DAG_ID, runId, i)),
    );
    // Probes that got through before the server was fully down are runs too.
    const expected = [...before, ...duringIds, ...after];
    const probes = (await runsOf(postgres.url, DAG_ID))
      .filter((run) => run.run_id.startsWith('probe_'))
      .map((run) => run.run_id);
    await waitFor(
      'every run is terminal',
      async () =>
        (await runsOf(postgres.url, DAG_ID)).filter(
          (run) => run.state === 'success' || run.state === 'failed',
        ).length ===
        expected.length + probes.length,
      FULL ? 300_000 : 60_000,
      500,
    );
    // A scheduler logs its recovery once every task has worked for a few seconds (SETTLE_MS).
    await waitFor(
      'both schedulers log their recovery',
      async () => schedulers.every((s) => count(s, RECOVERY_LOG) >= 1),
      60_000,
      200,
    );
    result = await audit(postgres.url, DAG_ID, markerFile, [...expected, ...probes]);
    result.runs -= probes.length;
    recordResult('3-lost-database', {
      order: 3,
      scenario: '3 lost database',
      load: `2 schedulers + 1 API; ${expected.length} runs x ${TASK_COUNT} tasks, clients polling every 250 ms`,
      faults: `PostgreSQL stopped for ${OUTAGE_SECONDS} s, restarted on the same port and data dir`,
      inputs: `${during.length} requests answered without 200 during the outage (${[...new Set(during.map((d) => d.status))].join(', ')}); ${RUNS_DURING} triggers retried through the outage`,
      lost: result.lost,
      duplicated: result.duplicated,
      figures: `runs success ${result.successRuns}/${expected.length + probes.length}; API answered again ${recoveredAfterMs} ms after restart; outage log lines per scheduler ${schedulers.map((s) => count(s, OUTAGE_LOG)).join('/')}, recovery lines ${schedulers.map((s) => count(s, RECOVERY_LOG)).join('/')}`,
    });
  },
  FULL ? 900_000 : 120_000,
);

afterAll(() => tearDownScenario({ releaseDatabase: () => postgres?.close(), workDir }));

function count(child: Child, message: string): number {
  return child.logLines().filter((line) => line.msg === message).length;
}

describe(`lost database: PostgreSQL stopped for ${OUTAGE_SECONDS} s under load`, () => {
  it('answers 503 with a detail while the database is away', () => {
    expect(during.length).toBeGreaterThan(0);
    expect(
      during.filter((d) => d.status !== 503 || typeof d.detail !== 'string' || d.detail === ''),
    ).toEqual([]);
  });

  it('keeps every process running through the outage', () => {
    expect([...schedulers, api].map((child) => isProcessAlive(child.pid))).toEqual([
      true,
      true,
      true,
    ]);
  });

  it('logs the outage once per scheduler, not once per loop', () => {
    expect(schedulers.map((s) => count(s, OUTAGE_LOG))).toEqual([1, 1]);
  });

  it('logs the recovery once per scheduler', () => {
    expect(schedulers.map((s) => count(s, RECOVERY_LOG))).toEqual([1, 1]);
  });

  it('has every notification listener (two schedulers, the API) lose its connection once and resync once', () => {
    const processes = [...schedulers, api];
    expect(processes.map((p) => count(p, NOTIFICATION_GAP_LOG.lost))).toEqual([1, 1, 1]);
    expect(processes.map((p) => count(p, NOTIFICATION_GAP_LOG.back))).toEqual([1, 1, 1]);
  });

  it('stores every run triggered before, during and after the outage', () => {
    expect(result.runs).toBe(RUNS_BEFORE + 2 * RUNS_DURING);
  });

  it('ends every run successfully after the database is back', () => {
    expect(result.successRuns).toBe(result.terminalRuns);
    expect(result.terminalRuns).toBeGreaterThanOrEqual(RUNS_BEFORE + 2 * RUNS_DURING);
  });

  it('loses no task execution and duplicates none', () => {
    expect({ lost: result.lost, duplicated: result.duplicated }).toEqual({
      lost: 0,
      duplicated: 0,
    });
  });

  it('prints the bearer token in no log of any process', () => {
    expect(tokensInLogs([TOKEN])).toEqual([]);
  });
});
