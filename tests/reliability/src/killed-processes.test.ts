/**
 * Scenario 2: one scheduler and one API server are SIGKILLed mid-load. Task instances the dead
 * scheduler was running are retried after the heartbeat timeout; clients that retry their trigger
 * (fixed dag_run_id) on the other API lose nothing.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  client,
  FULL,
  isProcessAlive,
  pool,
  scenarioEnv,
  scenarioFolder,
  sleep,
  startApi,
  startScheduler,
  tearDownScenario,
  tokensInLogs,
  waitFor,
  type ApiChild,
  type Child,
} from './cluster.ts';
import { recordResult } from './results.ts';
import {
  TASK_COUNT,
  audit,
  instancesOf,
  query,
  runsOf,
  triggerWithFailover,
  writeMarkerDag,
  type Audit,
} from './workload.ts';

const RUNS = FULL ? 120 : 12;
const HEARTBEAT_TIMEOUT_SECONDS = 3;
const HEARTBEAT_INTERVAL_SECONDS = 1;
/**
 * Stated bound (the scheduler's): a dead scheduler's tries are taken back within twice the timeout,
 * plus 2 s of polling and loops.
 */
const RETRY_BOUND_SECONDS = 2 * HEARTBEAT_TIMEOUT_SECONDS + 2;
const DAG_ID = 'killed';
const TOKEN = `rel-${randomBytes(12).toString('hex')}`;

let db: TestDatabase;
let workDir: string;
let markerFile: string;
let schedulers: Child[] = [];
let apis: ApiChild[] = [];
let result: Audit;
let inFlight: { run_id: string; task_id: string; try_number: number }[] = [];
let retried: {
  run_id: string;
  task_id: string;
  try_number: number;
  state: string | null;
  start_date: Date | null;
}[] = [];
let killedAt = 0;
let takenBackSeconds = Number.NaN;
const outcomes = { created: 0, conflict: 0 };
const attempts = { retries: 0 };

beforeAll(
  async () => {
    db = await createTestDatabase();
    const folder = await scenarioFolder('kill');
    const { dagsFolder } = folder;
    workDir = folder.workDir;
    markerFile = join(workDir, 'markers.txt');
    // Each task sleeps before writing its marker, so a SIGKILL finds tries in flight.
    await writeMarkerDag(dagsFolder, DAG_ID, markerFile, { sleepSeconds: 1, retries: 2 });
    const env = scenarioEnv(db.url, folder, {
      TASK_HEARTBEAT_TIMEOUT_SECONDS: String(HEARTBEAT_TIMEOUT_SECONDS),
      TASK_HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_INTERVAL_SECONDS),
      API_AUTH_TOKENS: TOKEN,
      DATABASE_POOL_MAX: '5',
    });
    schedulers = await Promise.all([1, 2, 3].map((n) => startScheduler(`scheduler-${n}`, env)));
    apis = await Promise.all([1, 2].map((n) => startApi(`api-${n}`, env)));
    await waitFor(
      'the DAG is parsed',
      async () => (await client(apis[0]!.url, TOKEN)(`/api/v2/dags/${DAG_ID}`)).status === 200,
      60_000,
    );

    const victim = schedulers[0]!;
    const runIds = Array.from({ length: RUNS }, (_, i) => `run_${String(i).padStart(4, '0')}`);
    const triggering = pool(runIds, 4, async (runId, index) => {
      await sleep(FULL ? 50 : 100); // a steady stream of clients, so the kill lands mid-load
      outcomes[await triggerWithFailover(apis, TOKEN, DAG_ID, runId, index, attempts)]++;
    });
    // Mid-load: when the victim runs tries, kill it and the first API at once.
    const [job] = await waitForJob(victim.pid);
    await waitFor(
      'the victim scheduler runs tries',
      async () => (await runningOf(job!.id)).length >= 3,
      60_000,
      50,
    );
    killedAt = Date.now();
    victim.process.kill('SIGKILL');
    apis[0]!.process.kill('SIGKILL');
    await Promise.all([victim.exited, apis[0]!.exited]);
    inFlight = await runningOf(job!.id);
    // When the other schedulers take the dead one's tries back (retry decided), as opposed to when
    // a retry starts, which also waits for a free executor slot behind the rest of the load.
    const takenBack = waitFor(
      "the dead scheduler's tries are taken back",
      async () => (await runningOf(job!.id)).length === 0,
      120_000,
      100,
    ).then(() => {
      takenBackSeconds = (Date.now() - killedAt) / 1000;
    });
    await triggering;
    await takenBack;
    await waitFor(
      'every run is terminal',
      async () =>
        (await runsOf(db.url, DAG_ID)).filter(
          (run) => run.state === 'success' || run.state === 'failed',
        ).length === RUNS,
      FULL ? 600_000 : 90_000,
      500,
    );
    result = await audit(db.url, DAG_ID, markerFile, runIds, killedAt);
    const all = await query<{
      run_id: string;
      task_id: string;
      try_number: number;
      state: string | null;
      start_date: Date | null;
    }>(
      db.url,
      'SELECT run_id, task_id, try_number, state, start_date FROM task_instance WHERE dag_id = $1',
      [DAG_ID],
    );
    retried = all.filter((ti) =>
      inFlight.some((f) => f.run_id === ti.run_id && f.task_id === ti.task_id),
    );
    recordResult('2-killed', {
      order: 2,
      scenario: '2 killed processes',
      load: `3 schedulers + 2 APIs; ${RUNS} runs x ${TASK_COUNT} tasks of 1 s`,
      faults: `SIGKILL of 1 scheduler (${inFlight.length} tries in flight) and 1 API mid-load; heartbeat timeout ${HEARTBEAT_TIMEOUT_SECONDS} s`,
      inputs: `${RUNS} triggers with fixed dag_run_id; ${attempts.retries} client retries; ${outcomes.conflict} answered 409 (already stored)`,
      lost: result.lost,
      duplicated: result.duplicated,
      figures: `runs success ${result.successRuns}/${RUNS}; in-flight tries retried ${retried.filter((ti) => ti.try_number >= 2).length}/${inFlight.length}, taken back ${takenBackSeconds.toFixed(1)} s after the kill (bound ${RETRY_BOUND_SECONDS} s), first retry started ${firstRetrySeconds().toFixed(1)} s after it; markers written by killed tries after the kill ${result.writtenAfterKill} (before it, outcome lost with the scheduler, so retried: ${result.retriedAfterMarker - result.writtenAfterKill})`,
    });
  },
  FULL ? 1_200_000 : 120_000,
);

async function waitForJob(pid: number): Promise<{ id: number }[]> {
  let rows: { id: number }[] = [];
  await waitFor(
    'the victim has a job row',
    async () => {
      rows = await query<{ id: number }>(
        db.url,
        "SELECT id FROM job WHERE pid = $1 AND state = 'running'",
        [pid],
      );
      return rows.length === 1;
    },
    30_000,
  );
  return rows;
}

const runningOf = (jobId: number) =>
  query<{ run_id: string; task_id: string; try_number: number }>(
    db.url,
    "SELECT run_id, task_id, try_number FROM task_instance WHERE dag_id = $1 AND queued_by_job_id = $2 AND state IN ('queued', 'running')",
    [DAG_ID, jobId],
  );

function firstRetrySeconds(): number {
  const starts = retried
    .filter((ti) => ti.try_number >= 2 && ti.start_date)
    .map((ti) => ti.start_date!.getTime());
  return starts.length === 0 ? Number.NaN : (Math.min(...starts) - killedAt) / 1000;
}

afterAll(() => tearDownScenario({ releaseDatabase: () => db?.drop(), workDir }));

describe('killed processes: SIGKILL of one scheduler and one API mid-load', () => {
  it('finds tries in flight on the killed scheduler', () => {
    expect(inFlight.length).toBeGreaterThan(0);
  });

  it('retries every in-flight try of the killed scheduler, and each succeeds', () => {
    expect(retried.map((ti) => ({ tryAgain: ti.try_number >= 2, state: ti.state }))).toEqual(
      inFlight.map(() => ({ tryAgain: true, state: 'success' })),
    );
  });

  // The timeout runs from the last heartbeat, written up to one interval before the kill.
  it(`takes them back no sooner than the heartbeat timeout after their last heartbeat, and within ${RETRY_BOUND_SECONDS} s of the kill`, () => {
    expect(takenBackSeconds).toBeGreaterThanOrEqual(
      HEARTBEAT_TIMEOUT_SECONDS - HEARTBEAT_INTERVAL_SECONDS,
    );
    expect(takenBackSeconds).toBeLessThanOrEqual(RETRY_BOUND_SECONDS);
  });

  it('starts no retry before the heartbeat timeout', () => {
    expect(firstRetrySeconds()).toBeGreaterThanOrEqual(
      HEARTBEAT_TIMEOUT_SECONDS - HEARTBEAT_INTERVAL_SECONDS,
    );
  });

  it('stores every run a client triggered, through the surviving API', () => {
    expect({ runs: result.runs, answered: outcomes.created + outcomes.conflict }).toEqual({
      runs: RUNS,
      answered: RUNS,
    });
  });

  it('ends every run successfully', () => {
    expect(result.successRuns).toBe(RUNS);
  });

  it('loses no task execution and duplicates none', () => {
    expect({ lost: result.lost, duplicated: result.duplicated }).toEqual({
      lost: 0,
      duplicated: 0,
    });
  });

  it('keeps the other processes running', () => {
    const dead = [schedulers[1]!, schedulers[2]!, apis[1]!].filter(
      (child) => !isProcessAlive(child.pid),
    );
    expect(
      dead.map((child) => `${child.name}: ${child.output().split('\n').slice(-6).join('\n')}`),
    ).toEqual([]);
  });

  it('leaves no task instance queued or running', async () => {
    const instances = await instancesOf(db.url, DAG_ID);
    expect(instances.filter((ti) => ti.state === 'running' || ti.state === 'queued')).toEqual([]);
  });

  // A try that had written its marker just before the kill, but whose outcome died with the
  // scheduler, is retried: at least once, by design. One that writes it later outlived its
  // scheduler.
  it("stops the killed scheduler's task processes with it (none of its tries writes a marker after the kill)", () => {
    expect(result.writtenAfterKill).toBe(0);
  });

  it('prints the bearer token in no log of any process', () => {
    expect(tokensInLogs([TOKEN])).toEqual([]);
  });
});
