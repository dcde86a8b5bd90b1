/**
 * The API's writes against concurrent lockers of the same rows, as the scheduler and other API
 * requests lock them: a second connection holds locks while the write waits, through real
 * PostgreSQL (its deadlock detector decides, no timing in the assertions).
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { createApiQueries, type ApiQueries } from './index.ts';

let db: TestDatabase;
let queries: ApiQueries;
let versionId: string;
/** The other party: a connection taking locks as the scheduler or another request would. */
let other: pg.Client;
let observer: pg.Client;
let runNumber = 0;
let runId: string;

const DAG = 'locked_dag';
const noRetries = async () => undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  queries = createApiQueries(db.prisma);
  await db.prisma.dag.create({ data: { dagId: DAG, fileloc: `/dags/${DAG}.json` } });
  versionId = (
    await db.prisma.dagVersion.create({
      data: {
        dagId: DAG,
        versionNumber: 1,
        serializedDag: { create: { dagId: DAG, data: {}, dagHash: 'h' } },
      },
    })
  ).id;
  observer = new pg.Client({ connectionString: db.url });
  await observer.connect();
});

afterAll(async () => {
  await observer.end();
  await db.drop();
});

beforeEach(async () => {
  runId = `run_${++runNumber}`;
  await db.prisma.dagRun.create({
    data: {
      dagId: DAG,
      runId,
      state: 'failed',
      runType: 'manual',
      runAfter: new Date(),
      createdDagVersionId: versionId,
    },
  });
  for (const taskId of ['a', 'b'])
    await db.prisma.taskInstance.create({
      data: { dagId: DAG, runId, taskId, dagVersionId: versionId, state: 'failed', tryNumber: 1 },
    });
  other = new pg.Client({ connectionString: db.url });
  await other.connect();
});

afterEach(async () => {
  await other.end();
});

/** Resolves once some other backend of this database waits for a lock. */
async function someoneWaitsForALock(): Promise<void> {
  for (;;) {
    const { rows } = await observer.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('API writes under concurrent lockers', () => {
  it('a run clear that PostgreSQL rolls back to break a deadlock runs again and succeeds', async () => {
    // The other party holds the run's instances, the clear takes the run and waits for them;
    // then the other party asks for the run: a lock cycle, which PostgreSQL breaks by rolling
    // back one of the two.
    await other.query('BEGIN');
    await other.query(
      'SELECT id FROM task_instance WHERE dag_id = $1 AND run_id = $2 ORDER BY id FOR UPDATE',
      [DAG, runId],
    );
    const clear = queries.clearDagRun(DAG, runId, { onlyFailed: false, retriesOf: noRetries });
    await someoneWaitsForALock();
    try {
      await other.query('SELECT id FROM dag_run WHERE dag_id = $1 AND run_id = $2 FOR UPDATE', [
        DAG,
        runId,
      ]);
      await other.query('COMMIT');
    } catch {
      await other.query('ROLLBACK'); // the other party was the one rolled back
    }
    const run = await clear;
    expect(run?.state).toBe('queued');
    const states = await db.prisma.taskInstance.findMany({ where: { dagId: DAG, runId } });
    expect(states.map((ti) => ti.state)).toEqual([null, null]);
  });

  it('clearing task instances waits for a run the scheduler holds without holding its instances', async () => {
    // The scheduler examines a run: it holds the run, then writes the run's instances.
    await other.query('BEGIN');
    await other.query('SELECT id FROM dag_run WHERE dag_id = $1 AND run_id = $2 FOR UPDATE', [
      DAG,
      runId,
    ]);
    const clear = queries.clearTaskInstancesAcross(
      { dagId: DAG, runIds: [runId], onlyFailed: true, onlyRunning: false },
      { retriesOf: noRetries, resetRuns: true },
    );
    await someoneWaitsForALock();
    // Holding instances while waiting for their run made a lock cycle with the scheduler.
    const locked = await other
      .query('SELECT id FROM task_instance WHERE dag_id = $1 AND run_id = $2 FOR UPDATE NOWAIT', [
        DAG,
        runId,
      ])
      .then(
        () => 'free',
        (error: { code?: string }) => error.code,
      );
    await other.query(locked === 'free' ? 'COMMIT' : 'ROLLBACK');
    expect(locked).toBe('free');
    expect((await clear).map((ti) => ti.state)).toEqual([null, null]);
  });
});
