/**
 * Scenario 1: 3 schedulers and 2 API servers (real processes) on one PostgreSQL; runs of a 10-task
 * DAG triggered through both APIs while the DAG file changes twice.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  client,
  FULL,
  pool,
  scenarioEnv,
  scenarioFolder,
  startApi,
  startScheduler,
  tearDownScenario,
  tokensInLogs,
  waitFor,
  type ApiChild,
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

const RUNS = FULL ? 300 : 30;
/** Stated bound: no run takes longer than this from queued to finished. */
const RUN_BOUND_SECONDS = FULL ? 240 : 60;
const DAG_ID = 'scale_out';
const TOKEN = `rel-${randomBytes(12).toString('hex')}`;

let db: TestDatabase;
let workDir: string;
let dagsFolder: string;
let markerFile: string;
let apis: ApiChild[] = [];
let result: Audit;
let versions = 0;
let triggerSeconds = 0;
let totalSeconds = 0;
let finalDescription: string | undefined;

async function latestDescription(): Promise<string | undefined> {
  const latest = await db.prisma.dagVersion.findFirst({
    where: { dagId: DAG_ID },
    orderBy: { versionNumber: 'desc' },
    include: { serializedDag: true },
  });
  return (latest?.serializedDag?.data as { description?: string } | undefined)?.description;
}

beforeAll(
  async () => {
    db = await createTestDatabase();
    ({ workDir, dagsFolder } = await scenarioFolder('scale'));
    markerFile = join(workDir, 'markers.txt');
    await writeMarkerDag(dagsFolder, DAG_ID, markerFile, { variant: 1 });
    const env = scenarioEnv(
      db.url,
      { workDir, dagsFolder },
      {
        SCHEDULER_PARALLELISM: '16',
        TASK_HEARTBEAT_TIMEOUT_SECONDS: '30',
        API_AUTH_TOKENS: TOKEN,
        DATABASE_POOL_MAX: '5',
      },
    );
    await Promise.all([1, 2, 3].map((n) => startScheduler(`scheduler-${n}`, env)));
    apis = await Promise.all([1, 2].map((n) => startApi(`api-${n}`, env)));
    await waitFor(
      'the DAG is parsed',
      async () => (await client(apis[0]!.url, TOKEN)(`/api/v2/dags/${DAG_ID}`)).status === 200,
      60_000,
    );

    const started = Date.now();
    const runIds = Array.from({ length: RUNS }, (_, i) => `run_${String(i).padStart(4, '0')}`);
    // Three batches; between them the DAG file changes and the change is waited for, so each
    // change lands while the previous batch is running.
    const batches = [
      runIds.slice(0, RUNS / 3),
      runIds.slice(RUNS / 3, (2 * RUNS) / 3),
      runIds.slice((2 * RUNS) / 3),
    ];
    for (const [b, batch] of batches.entries()) {
      if (b > 0) {
        await writeMarkerDag(dagsFolder, DAG_ID, markerFile, { variant: b + 1 });
        await waitFor(
          `variant ${b + 1} is stored`,
          async () => (await latestDescription()) === `reliability load, variant ${b + 1}`,
          30_000,
        );
      }
      await pool(batch, 8, async (runId) => {
        await triggerWithFailover(apis, TOKEN, DAG_ID, runId, runIds.indexOf(runId));
      });
    }
    triggerSeconds = (Date.now() - started) / 1000;
    await waitFor(
      'every run is terminal',
      async () =>
        (await runsOf(db.url, DAG_ID)).filter(
          (run) => run.state === 'success' || run.state === 'failed',
        ).length === RUNS,
      RUN_BOUND_SECONDS * 1000 * 3,
      500,
    );
    totalSeconds = (Date.now() - started) / 1000;
    result = await audit(db.url, DAG_ID, markerFile, runIds);
    versions = await db.prisma.dagVersion.count({ where: { dagId: DAG_ID } });
    finalDescription = await latestDescription();
    recordResult('1-scale-out', {
      order: 1,
      scenario: '1 scale-out',
      load: `3 schedulers + 2 APIs; ${RUNS} runs x ${TASK_COUNT} bash tasks (${RUNS * TASK_COUNT} task instances) in ${totalSeconds.toFixed(0)} s`,
      faults: 'DAG file changed twice under load',
      inputs: `${RUNS} triggers through both APIs`,
      lost: result.lost,
      duplicated: result.duplicated,
      figures: `runs terminal ${result.terminalRuns}/${RUNS}, success ${result.successRuns}; versions ${versions}; longest run queued->end ${result.maxRunSeconds.toFixed(1)} s (bound ${RUN_BOUND_SECONDS} s); triggering took ${triggerSeconds.toFixed(1)} s`,
    });
  },
  FULL ? 1_200_000 : 120_000,
);

afterAll(() => tearDownScenario({ releaseDatabase: () => db?.drop(), workDir }));

describe(`scale-out: ${RUNS} runs of a ${TASK_COUNT}-task DAG on 3 schedulers and 2 APIs`, () => {
  it('stores every triggered run', () => {
    expect(result.runs).toBe(RUNS);
  });

  it('ends every run in a terminal state, successfully', () => {
    expect({ terminal: result.terminalRuns, success: result.successRuns }).toEqual({
      terminal: RUNS,
      success: RUNS,
    });
  });

  it('creates one task instance per task and run', () => {
    expect(result.instances).toBe(RUNS * TASK_COUNT);
  });

  it('executes every task instance exactly once', () => {
    expect({
      lost: result.lost,
      duplicated: result.duplicated,
      earlierTries: result.retriedAfterMarker,
    }).toEqual({ lost: 0, duplicated: 0, earlierTries: 0 });
  });

  it(`finishes every run within ${RUN_BOUND_SECONDS} s of being queued`, () => {
    expect(result.maxRunSeconds).toBeLessThanOrEqual(RUN_BOUND_SECONDS);
  });

  it('takes in both changes of the DAG file', () => {
    expect({ finalDescription, newVersions: versions >= 2 }).toEqual({
      finalDescription: 'reliability load, variant 3',
      newVersions: true,
    });
  });

  it('prints the bearer token in no log of any process', () => {
    expect(tokensInLogs([TOKEN])).toEqual([]);
  });
});
