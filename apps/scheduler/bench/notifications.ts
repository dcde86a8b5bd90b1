/**
 * Issue 12: what DATABASE_NOTIFICATIONS buys, measured at default settings on and off in one run.
 *  - latency: trigger -> first task start, end of a task -> start of its downstream;
 *  - coherence: in-place update -> every DAG cache serves the new hash;
 *  - a burst of 10,000 notifications in one second: loops run, lag, nothing lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DagBag, type DagDocumentInput } from '@dagbag/dagbag';
import { createDagVersionLoader, keepCacheCoherent, Notifier, type PrismaClient } from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';
import { readSchedulerConfig } from '../src/config.ts';
import { createScheduler, type Scheduler } from '../src/scheduler.ts';

const now = () => performance.timeOrigin + performance.now();

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export interface LatencyRow {
  operator: 'empty' | 'bash';
  notifications: boolean;
  samples: number;
  triggerToStart: { p50: number; p99: number };
  taskToDownstream: { p50: number; p99: number };
}

async function withScheduler<T>(
  prisma: PrismaClient,
  url: string,
  dag: DagDocumentInput,
  notifications: boolean,
  work: (scheduler: Scheduler) => Promise<T>,
): Promise<T> {
  const workDir = await mkdtemp(join(tmpdir(), 'dagbag-notify-bench-'));
  await writeFile(join(workDir, `${dag.dag_id}.json`), JSON.stringify(dag));
  const scheduler = await createScheduler({
    prisma,
    databaseUrl: url,
    logger: silentLogger,
    logsRoot: join(workDir, 'logs'),
    // Defaults, but for the folder: SCHEDULER_LOOP_INTERVAL_MS 1000, DAG cache defaults.
    config: readSchedulerConfig({ DAGS_FOLDER: workDir }),
    notifications,
    processDagFiles: false,
  });
  try {
    await scheduler.processDagFiles();
    await scheduler.notifier?.start().listening();
    scheduler.start();
    return await work(scheduler);
  } finally {
    await scheduler.stop(0);
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Runs of `a -> b` triggered one at a time as the API does (one INSERT, its own transaction).
 * Before each trigger a random pause of up to one loop interval, so that without notifications a
 * trigger meets the loop timer at a random phase.
 */
export async function runLatency(
  prisma: PrismaClient,
  url: string,
  operator: 'empty' | 'bash',
  notifications: boolean,
  samples: number,
): Promise<LatencyRow> {
  const dagId = `latency_${operator}_${notifications ? 'on' : 'off'}`;
  const task = (task_id: string, upstream: string[]) =>
    operator === 'empty'
      ? { task_id, operator: 'empty' as const, upstream }
      : { task_id, operator: 'bash' as const, bash_command: 'true', upstream };
  const dag: DagDocumentInput = {
    dag_id: dagId,
    max_active_runs: 1,
    tasks: [task('a', []), task('b', ['a'])],
  };
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const triggerToStart: number[] = [];
  const taskToDownstream: number[] = [];
  try {
    await withScheduler(prisma, url, dag, notifications, async () => {
      const { rows } = await client.query<{ id: string }>(
        'SELECT id::text FROM dag_version WHERE dag_id = $1',
        [dagId],
      );
      const versionId = rows[0]!.id;
      for (let i = 0; i < samples; i++) {
        await sleep(Math.random() * (notifications ? 50 : 1000));
        const runId = `r${i}`;
        await client.query(
          `INSERT INTO dag_run (dag_id, run_id, state, run_type, created_dag_version_id, queued_at, triggered_by)
           VALUES ($1, $2, 'queued', 'manual', $3, now(), 'rest_api')`,
          [dagId, runId, versionId],
        );
        const triggeredAt = now();
        for (;;) {
          const state = await client.query<{ state: string }>(
            'SELECT state FROM dag_run WHERE dag_id = $1 AND run_id = $2',
            [dagId, runId],
          );
          if (state.rows[0]!.state === 'success' || state.rows[0]!.state === 'failed') break;
          await sleep(5);
        }
        const tis = await client.query<{ task_id: string; start_ms: number; end_ms: number }>(
          `SELECT task_id, extract(epoch FROM start_date) * 1000 AS start_ms,
                  extract(epoch FROM end_date) * 1000 AS end_ms
           FROM task_instance WHERE dag_id = $1 AND run_id = $2`,
          [dagId, runId],
        );
        const a = tis.rows.find((row) => row.task_id === 'a')!;
        const b = tis.rows.find((row) => row.task_id === 'b')!;
        triggerToStart.push(Number(a.start_ms) - triggeredAt);
        taskToDownstream.push(Number(b.start_ms) - Number(a.end_ms));
      }
    });
  } finally {
    await client.end();
  }
  return {
    operator,
    notifications,
    samples,
    triggerToStart: { p50: percentile(triggerToStart, 50), p99: percentile(triggerToStart, 99) },
    taskToDownstream: {
      p50: percentile(taskToDownstream, 50),
      p99: percentile(taskToDownstream, 99),
    },
  };
}

export interface CoherenceRow {
  notifications: boolean;
  revalidateSeconds: number;
  processes: number;
  samples: number;
  p50: number;
  p99: number;
}

/**
 * Three DAG caches (two api, one scheduler), each with its own listener connection as each
 * process has: after an in-place update (new dag_hash), the time until all three serve it,
 * every cache asked in a tight loop as a busy process would.
 */
export async function runCoherence(
  prisma: PrismaClient,
  url: string,
  notifications: boolean,
  samples: number,
  revalidateSeconds: number,
): Promise<CoherenceRow> {
  const dagId = `coherence_${notifications ? 'on' : 'off'}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const bags: DagBag[] = [];
  const notifiers: Notifier[] = [];
  const elapsed: number[] = [];
  try {
    await withScheduler(
      prisma,
      url,
      { dag_id: dagId, tasks: [{ task_id: 'x', operator: 'empty' }] },
      false,
      async () => undefined,
    );
    const { rows } = await client.query<{ id: string }>(
      'SELECT id::text FROM dag_version WHERE dag_id = $1',
      [dagId],
    );
    const versionId = rows[0]!.id;
    for (const role of ['api', 'api', 'scheduler'] as const) {
      const bag = new DagBag({
        role,
        loader: createDagVersionLoader(prisma),
        settings: { revalidateSeconds },
      });
      bags.push(bag);
      if (notifications) {
        const notifier = new Notifier({ url });
        keepCacheCoherent(notifier, bag, silentLogger);
        await notifier.start().listening();
        notifiers.push(notifier);
      }
      await bag.get(versionId);
    }
    for (let i = 0; i < samples; i++) {
      const hash = `bench-${notifications}-${i}`;
      await client.query('UPDATE serialized_dag SET dag_hash = $1 WHERE dag_version_id = $2', [
        hash,
        versionId,
      ]);
      const committed = now();
      const served = await Promise.all(
        bags.map(async (bag) => {
          while ((await bag.get(versionId))?.dagHash !== hash)
            await new Promise((resolve) => setImmediate(resolve));
          return now();
        }),
      );
      elapsed.push(Math.max(...served) - committed);
      await sleep(Math.random() * 20);
    }
  } finally {
    for (const notifier of notifiers) await notifier.close();
    for (const bag of bags) bag.close();
    await client.end();
  }
  return {
    notifications,
    revalidateSeconds,
    processes: bags.length,
    samples,
    p50: percentile(elapsed, 50),
    p99: percentile(elapsed, 99),
  };
}

export interface BurstRow {
  notifications: number;
  sendSeconds: number;
  received: number;
  /** From the first send until the last receipt. */
  drainedSeconds: number;
  loops: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  invalidations: number;
}

/** Notifications per sending transaction in the burst (a loop finishing ten tasks at once). */
export const PER_TRANSACTION = 10;

/**
 * 10,000 notifications in about one second: 1,000 transactions of 10 from 10 connections, half on
 * dagbag_task, half on dagbag_version, to a running scheduler with notifications on and default
 * settings.
 */
export async function runBurst(
  prisma: PrismaClient,
  url: string,
  total = 10_000,
): Promise<BurstRow> {
  const senders = 10;
  const clients = await Promise.all(
    Array.from({ length: senders }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  try {
    return await withScheduler(
      prisma,
      url,
      { dag_id: 'burst', tasks: [{ task_id: 'x', operator: 'empty' }] },
      true,
      async (scheduler) => {
        await sleep(1500); // the first timer loop has run; the loop sleeps its interval now
        const lags: number[] = [];
        let lastReceipt = 0;
        let invalidations = 0;
        scheduler.notifier!.subscribe((event) => {
          if (event.type !== 'notification') return;
          const at = now();
          lags.push(at - event.committedAtMs);
          lastReceipt = at;
          if (event.channel === 'dagbag_version') invalidations++;
        });
        const loopsBefore = scheduler.loopsRun;
        const started = now();
        const transactions = total / PER_TRANSACTION;
        const perSender = transactions / senders;
        await Promise.all(
          clients.map(async (client, c) => {
            for (let i = 0; i < perSender; i++) {
              // Paced so the burst spans about one second.
              const due = started + ((i * senders + c) / transactions) * 1000;
              if (due > now() + 1) await sleep(due - now());
              const channel = i % 2 === 0 ? 'dagbag_task' : 'dagbag_version';
              await client.query(
                `SELECT pg_notify($1, floor(extract(epoch FROM statement_timestamp()) * 1000000)::bigint || ',' ||
                   CASE WHEN $1 = 'dagbag_task' THEN ($2::int * 100 + n)::text ELSE gen_random_uuid()::text END)
                 FROM generate_series(1, ${PER_TRANSACTION}) n`,
                [channel, c * perSender + i],
              );
            }
          }),
        );
        const sendSeconds = (now() - started) / 1000;
        const deadline = now() + 30_000;
        while (lags.length < total && now() < deadline) await sleep(10);
        await sleep(200);
        return {
          notifications: total,
          sendSeconds,
          received: lags.length,
          drainedSeconds: (lastReceipt - started) / 1000,
          loops: scheduler.loopsRun - loopsBefore,
          lagP50: percentile(lags, 50),
          lagP99: percentile(lags, 99),
          lagMax: Math.max(...lags),
          invalidations,
        };
      },
    );
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}
