/**
 * DATABASE_NOTIFICATIONS end to end, through real PostgreSQL, two real API processes and an
 * in-process scheduler. Hash revalidation is set to an hour and the loop interval to a minute, so
 * only a notification can explain what happens within the deadlines below.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx, type TsxChild } from '@dagbag/config/testing/spawn-tsx';
import type { DagDocumentInput } from '@dagbag/dagbag';
import { createHarness, waitFor, type Harness } from './testing/harness.ts';
import type { Scheduler } from './scheduler.ts';

const API_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'api');
const TOKEN = `t-${randomBytes(8).toString('hex')}`;
const AN_HOUR = { revalidateSeconds: 3600 };
const DAG_ID = 'coherent';

let h: Harness;
let sql: pg.Client;
const apis: { child: TsxChild; url: string }[] = [];

function dagDocument(taskIds: string[]): DagDocumentInput {
  return {
    dag_id: DAG_ID,
    tasks: taskIds.map((task_id) => ({ task_id, operator: 'empty' })),
  };
}

async function startApi(): Promise<{ child: TsxChild; url: string }> {
  const port = await freePort();
  const child = spawnTsx('src/main.ts', {
    cwd: API_DIR,
    env: {
      DATABASE_URL: h.db.url,
      DATA_DIR: h.workDir,
      API_PORT: String(port),
      METRICS_PORT: String(await freePort()),
      API_AUTH_TOKENS: TOKEN,
      DAG_CACHE_REVALIDATE_SECONDS: '3600',
      DATABASE_NOTIFICATIONS: 'on',
      LOG_LEVEL: 'warn',
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.process.exitCode !== null) throw new Error(`API exited:\n${child.output()}`);
      return fetch(`${url}/api/v2/monitor/health`).then(
        (response) => response.ok,
        () => false,
      );
    },
    60_000,
    100,
  );
  return { child, url };
}

async function structureTasks(url: string): Promise<string[]> {
  const response = await fetch(`${url}/api/v2/dags/${DAG_ID}/dagVersions/1/structure`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = (await response.json()) as { nodes: { id: string }[] };
  return body.nodes.map((node) => node.id).sort();
}

async function listeners(applicationName: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = $1`,
    [applicationName],
  );
  return rows[0]!.n;
}

async function versionId(): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(
    `SELECT id::text FROM dag_version WHERE dag_id = $1 AND version_number = 1`,
    [DAG_ID],
  );
  return rows[0]!.id;
}

/** Elapsed ms until `check` holds, polling every 5 ms; fails after `limitMs` * 5. */
async function msUntil(check: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > limitMs * 5) return Number.POSITIVE_INFINITY;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

beforeAll(async () => {
  h = await createHarness();
  sql = new pg.Client({ connectionString: h.db.url });
  await sql.connect();
}, 60_000);

afterAll(async () => {
  for (const api of apis) {
    api.child.process.kill('SIGTERM');
    await api.child.exited;
  }
  await sql.end();
  await h.close();
});

describe('with DATABASE_NOTIFICATIONS=on', () => {
  let scheduler: Scheduler;

  beforeAll(async () => {
    await h.writeDag(dagDocument(['a']));
    scheduler = await h.scheduler({
      notifications: true,
      processDagFiles: false,
      dagBag: { settings: AN_HOUR },
      env: { SCHEDULER_LOOP_INTERVAL_MS: '60000' },
    });
    await scheduler.processDagFiles();
    scheduler.start();
    apis.push(...(await Promise.all([startApi(), startApi()])));
    await waitFor(async () => (await listeners('dagbag-api-listener')) === 2, 20_000, 50);
    await scheduler.notifier!.listening();
  }, 120_000);

  it('an in-place update reaches the structure endpoint of two APIs and the scheduler cache within 200 ms', async () => {
    const id = await versionId();
    for (const api of apis) expect(await structureTasks(api.url)).toEqual(['a']);
    const before = (await scheduler.dagBag.get(id))!;
    expect([...before.dag.tasks.keys()]).toEqual(['a']);

    // Each attempt adds a task in place and must reach all three caches (revalidation is an hour
    // away, so only the notification can bring it). The 200 ms bound is the best of three
    // attempts: on a loaded 2-core CI machine one process can lose its core for longer than that.
    const attempts: number[][] = [];
    const tasks = ['a'];
    for (const next of ['b', 'c', 'd']) {
      tasks.push(next);
      await h.writeDag(dagDocument([...tasks]));
      expect(await scheduler.processDagFiles()).toMatchObject({ updatedInPlace: [DAG_ID] });
      expect(await versionId()).toBe(id);
      const size = tasks.length;
      const elapsed = await Promise.all([
        ...apis.map((api) =>
          msUntil(async () => (await structureTasks(api.url)).length === size, 200),
        ),
        msUntil(async () => (await scheduler.dagBag.get(id))!.dag.tasks.size === size, 200),
      ]);
      expect(elapsed.every(Number.isFinite), `ms per process: ${elapsed.join(', ')}`).toBe(true);
      attempts.push(elapsed);
      if (Math.max(...elapsed) < 200) break;
    }
    const best = Math.min(...attempts.map((elapsed) => Math.max(...elapsed)));
    expect(
      best,
      `ms per process, per attempt: ${attempts.map((e) => e.map(Math.round).join('/')).join(', ')}`,
    ).toBeLessThan(200);
  });

  it('a run triggered while the loop sleeps for a minute is finished within 2 s', async () => {
    await h.trigger(DAG_ID, 'woken');
    const elapsed = await msUntil(
      async () => (await h.runState(DAG_ID, 'woken')) === 'success',
      400,
    );
    expect(elapsed).toBeLessThan(2_000);
  });

  it('a killed listener connection (pg_terminate_backend) ends in a resync that drops the entry changed meanwhile', async () => {
    const id = await versionId();
    const cached = (await scheduler.dagBag.get(id))!;
    const pid = scheduler.notifier!.backendPid;
    const resyncs = scheduler.notifier!.stats().resyncs;
    // The update commits after the listener is gone (terminate waits for it): its notification
    // is lost; only the resync can find it.
    await sql.query('BEGIN');
    await sql.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
    await sql.query(
      `UPDATE serialized_dag SET dag_hash = 'changed-during-the-gap',
         data = jsonb_set(data, '{description}', '"changed during the gap"')
       WHERE dag_version_id = $1`,
      [id],
    );
    await sql.query('COMMIT');
    await waitFor(async () => scheduler.notifier!.stats().resyncs === resyncs + 1, 10_000, 10);
    await waitFor(async () => !scheduler.dagBag.has(id), 5_000, 10);
    const reloaded = (await scheduler.dagBag.get(id))!;
    expect(reloaded).not.toBe(cached);
    expect(reloaded.dagHash).toBe('changed-during-the-gap');
    expect(scheduler.notifier!.backendPid).not.toBe(pid);
  });

  it('after a notification gap, the versions of unfinished runs are loaded again without a miss', async () => {
    // A queued run of a paused DAG: nothing but the prewarm loads its version (the loop does
    // not start runs of paused DAGs), so only the resync's prewarm can make it resident.
    await h.writeDag({ dag_id: 'warm_after_gap', tasks: [{ task_id: 'a', operator: 'empty' }] });
    await scheduler.processDagFiles();
    const { rows } = await sql
      .query<{ id: string }>(
        `UPDATE dag SET is_paused = true WHERE dag_id = 'warm_after_gap';
       INSERT INTO dag_run (dag_id, run_id, state, run_type, created_dag_version_id, conf, triggered_by)
       SELECT dag_id, 'waiting', 'queued', 'manual', id, '{}'::jsonb, 'rest_api'
       FROM dag_version WHERE dag_id = 'warm_after_gap' RETURNING created_dag_version_id::text AS id`,
      )
      .then((results) => (results as unknown as pg.QueryResult<{ id: string }>[])[1]!);
    const id = rows[0]!.id;
    scheduler.dagBag.invalidate(id);
    expect(scheduler.dagBag.has(id)).toBe(false);
    const misses = scheduler.dagBag.stats().misses.loaded;
    const resyncs = scheduler.notifier!.stats().resyncs;

    await sql.query('SELECT pg_terminate_backend($1, 5000)', [scheduler.notifier!.backendPid]);
    await waitFor(async () => scheduler.notifier!.stats().resyncs === resyncs + 1, 10_000, 10);
    await waitFor(async () => scheduler.dagBag.has(id), 5_000, 10);
    expect(scheduler.dagBag.stats().misses.loaded).toBe(misses);
  });

  it('debounces wake-ups: a burst of 1,000 notifications runs a handful of loops, not 1,000', async () => {
    const received = scheduler.notifier!.stats().received.dagbag_task;
    const loops = scheduler.loopsRun;
    await sql.query(
      `SELECT pg_notify('dagbag_task', floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint || ',' || i)
       FROM generate_series(1, 1000) i`,
    );
    await waitFor(
      async () => scheduler.notifier!.stats().received.dagbag_task === received + 1000,
      10_000,
      10,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ran = scheduler.loopsRun - loops;
    expect(ran).toBeGreaterThanOrEqual(1);
    expect(ran).toBeLessThanOrEqual(10);
  });

  it('each process holds exactly one listening connection', async () => {
    expect(await listeners('dagbag-api-listener')).toBe(2);
    expect(await listeners('dagbag-scheduler-listener')).toBe(1);
  });

  afterAll(() => scheduler.stop(0));
});

describe('with DATABASE_NOTIFICATIONS=off', () => {
  it('runs on polling: no listening connection, runs finish, an in-place update arrives by hash revalidation', async () => {
    await h.writeDag({ dag_id: 'polled', tasks: [{ task_id: 'x', operator: 'empty' }] });
    const scheduler = await h.scheduler({
      notifications: false,
      processDagFiles: false,
      dagBag: { settings: { revalidateSeconds: 1 } },
      env: { SCHEDULER_LOOP_INTERVAL_MS: '100' },
    });
    expect(scheduler.notifier).toBeUndefined();
    const before = await listeners('dagbag-scheduler-listener');
    await scheduler.processDagFiles();
    scheduler.start();
    await h.trigger('polled', 'p1');
    await waitFor(async () => (await h.runState('polled', 'p1')) === 'success', 20_000, 50);
    expect(await listeners('dagbag-scheduler-listener')).toBe(before);

    const { rows } = await sql.query<{ id: string }>(
      `SELECT id::text FROM dag_version WHERE dag_id = 'polled'`,
    );
    const id = rows[0]!.id;
    await scheduler.dagBag.get(id);
    await sql.query(`UPDATE serialized_dag SET dag_hash = 'polled-2' WHERE dag_version_id = $1`, [
      id,
    ]);
    await waitFor(async () => (await scheduler.dagBag.get(id))!.dagHash === 'polled-2', 5_000, 50);
    await scheduler.stop(0);
  });
});
