/**
 * The database settings reach the scheduler's pool: the real process (src/main.ts) against real
 * PostgreSQL, its connections told apart by their application_name in pg_stat_activity.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lockTable, watchConnections } from '@dagbag/db/testing';
import { spawnScheduler, type ChildScheduler } from './testing/child-scheduler.ts';
import { createHarness, waitFor, type Harness } from './testing/harness.ts';

let h: Harness;
const children: ChildScheduler[] = [];

beforeAll(async () => {
  h = await createHarness();
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null) child.process.kill('SIGTERM');
    await child.exited;
  }
});

afterAll(() => h.close());

async function start(env: Record<string, string>): Promise<ChildScheduler> {
  const child = await spawnScheduler(
    h.childEnv({ DAG_DIR_SCAN_SECONDS: '1', SCHEDULER_LOOP_INTERVAL_MS: '50', ...env }),
  );
  children.push(child);
  return child;
}

describe('the scheduler process and its database settings', () => {
  it('lists every setting in effect in its start line, the database password redacted', async () => {
    const child = await start({ DATABASE_POOL_MAX: '3' });
    let line: string | undefined;
    await waitFor(async () => {
      line = child
        .output()
        .split('\n')
        .find((l) => l.includes('"scheduler started"'));
      return line !== undefined;
    }, 30_000);
    const { settings } = JSON.parse(line!) as { settings: Record<string, unknown> };
    expect(settings).toMatchObject({
      DATABASE_POOL_MAX: 3,
      SCHEDULER_DAG_CACHE_SIZE: 0,
      DAGS_FOLDER: h.dagsFolder,
      DATA_DIR: h.workDir,
      METRICS_HOST: '127.0.0.1',
    });
    expect(new URL(String(settings.DATABASE_URL)).password).toBe('%5Bredacted%5D');
    expect(line).not.toContain(`:${new URL(h.db.url).password}@`);
  }, 60_000);

  it('opens at most DATABASE_POOL_MAX=2 connections while 16 tasks run at once', async () => {
    const tasks = Array.from({ length: 16 }, (_, i) => ({
      task_id: `t${i}`,
      operator: 'bash' as const,
      bash_command: 'sleep 0.2',
    }));
    await h.writeDag({ dag_id: 'wide', max_active_runs: 8, tasks });
    const watch = await watchConnections({
      adminUrl: h.db.adminUrl,
      database: h.db.name,
      applicationName: 'dagbag-scheduler',
    });
    try {
      await start({ DATABASE_POOL_MAX: '2', SCHEDULER_PARALLELISM: '16' });
      await waitFor(async () => (await h.db.prisma.dagVersion.count()) > 0, 30_000);
      for (let i = 0; i < 8; i++) await h.trigger('wide', `run_${i}`);
      await waitFor(
        async () => (await h.db.prisma.dagRun.count({ where: { state: 'success' } })) === 8,
        60_000,
        100,
      );
      await watch.sample();
      // The 128 tries used the whole pool, and not one connection more.
      expect(watch.max).toBe(2);
    } finally {
      await watch.stop();
    }
  }, 90_000);

  it('has a statement running longer than DATABASE_STATEMENT_TIMEOUT_MS cancelled', async () => {
    // A statement that waits on a lock runs until the lock is released or it is cancelled.
    const lock = await lockTable(h.db.url, 'dag_run');
    try {
      const child = await start({ DATABASE_STATEMENT_TIMEOUT_MS: '300' });
      await waitFor(
        async () => child.output().includes('canceling statement due to statement timeout'),
        15_000,
      );
    } finally {
      await lock.release();
    }
  }, 60_000);
});
