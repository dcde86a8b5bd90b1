/**
 * `pnpm db:clean`'s work, in the manner of Airflow's `airflow db clean`: history older than a
 * moment leaves the metadata database (and the deleted runs' task logs the logs folder), table by
 * table, in batches of `batchSize` rows, each batch one short statement of its own, so a year of
 * rows neither holds one long transaction nor locks the scheduler out. What remains reads as it
 * did: each DAG's latest run and latest scheduled run stay, unfinished runs stay, and so does every
 * version a remaining run refers to (see the queries in `queries/retention`).
 */
import { stat } from 'node:fs/promises';
import { removeRunLogs, runLogsPresent } from '@dagbag/dagbag';
import { silentLogger, type Logger } from '@dagbag/logger';
import type { PrismaClient } from '../generated/prisma/client.ts';
import {
  countEventLogToClean,
  countJobsToClean,
  dagVersionsToClean,
  deleteDagVersions,
  deleteEventLogBatch,
  deleteJobBatch,
  deleteRunBatch,
  selectRunBatch,
} from '../queries/retention/index.ts';

/**
 * The tables an operator picks (`--tables`), in the order they are cleaned: runs first, because
 * the versions they free go next.
 */
export const CLEAN_TABLES = ['dag_run', 'dag_version', 'log', 'job'] as const;
export type CleanTable = (typeof CLEAN_TABLES)[number];

/** What went (or, in a dry run, would go), per table; `task_log_folders` are files, not rows. */
export interface CleanCounts {
  dag_run: number;
  task_instance: number;
  task_instance_history: number;
  task_log_folders: number;
  dag_version: number;
  log: number;
  job: number;
}

export interface CleanOptions {
  /** History older than this goes (runs that ended, events written, versions superseded before). */
  before: Date;
  /** Default: every table. */
  tables?: readonly CleanTable[];
  /** Rows per statement (default 1000). */
  batchSize?: number;
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  /**
   * The logs folder the scheduler writes task logs to (DATA_DIR/logs): the deleted runs' log
   * folders are removed from it. Undefined: no files are touched.
   */
  logsRoot?: string;
  logger?: Logger;
  /** After each batch (progress; tests). */
  onBatch?: (table: CleanTable, rows: number) => void | Promise<void>;
}

/** Counts of a clean that found nothing (each table at 0). */
export function noCleanCounts(): CleanCounts {
  return {
    dag_run: 0,
    task_instance: 0,
    task_instance_history: 0,
    task_log_folders: 0,
    dag_version: 0,
    log: 0,
    job: 0,
  };
}

export const DEFAULT_CLEAN_BATCH_SIZE = 1000;

/** Removes (or counts) at most this many run log folders at once. */
const FILE_CONCURRENCY = 16;

async function inChunks<T>(items: readonly T[], each: (item: T) => Promise<boolean>) {
  let done = 0;
  for (let i = 0; i < items.length; i += FILE_CONCURRENCY) {
    const results = await Promise.all(items.slice(i, i + FILE_CONCURRENCY).map(each));
    done += results.filter(Boolean).length;
  }
  return done;
}

async function folderExists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

export async function cleanHistory(
  prisma: PrismaClient,
  options: CleanOptions,
): Promise<CleanCounts> {
  const { before } = options;
  const tables = new Set(options.tables ?? CLEAN_TABLES);
  const limit = options.batchSize ?? DEFAULT_CLEAN_BATCH_SIZE;
  const dryRun = options.dryRun ?? false;
  const logger = options.logger ?? silentLogger;
  const counts = noCleanCounts();
  const batchDone = async (table: CleanTable, rows: number) => {
    logger.debug({ table, rows, dryRun }, 'batch done');
    await options.onBatch?.(table, rows);
  };

  /** A dry run's cleanable runs: the versions only they refer to would go too. */
  const goneRunIds: number[] = [];
  if (tables.has('dag_run')) {
    let logsRoot = options.logsRoot;
    if (logsRoot !== undefined && !(await folderExists(logsRoot))) {
      logger.warn(
        { logsRoot },
        'no logs folder here: task log files are not removed (run the command where the scheduler writes them, with its DATA_DIR)',
      );
      logsRoot = undefined;
    }
    const batch = dryRun ? selectRunBatch : deleteRunBatch;
    for (let afterId = 0; ;) {
      const runs = await batch(prisma, { before, afterId, limit });
      if (runs.length === 0) break;
      afterId = runs.at(-1)!.id;
      counts.dag_run += runs.length;
      if (dryRun) for (const run of runs) goneRunIds.push(run.id);
      for (const run of runs) {
        counts.task_instance += run.taskInstances;
        counts.task_instance_history += run.tries;
      }
      // Files after the rows: a folder left by a crash here is garbage nobody reads, whereas a
      // run left without its logs would show empty ones.
      if (logsRoot !== undefined) {
        const root = logsRoot;
        counts.task_log_folders += await inChunks(runs, (run) =>
          dryRun ? runLogsPresent(root, run) : removeRunLogs(root, run),
        );
      }
      await batchDone('dag_run', runs.length);
    }
  }

  if (tables.has('dag_version')) {
    // In a dry run the runs are still there: the versions only cleanable runs refer to count too.
    const ids = await dagVersionsToClean(prisma, { before, goneRunIds });
    for (let i = 0; i < ids.length; i += limit) {
      const slice = ids.slice(i, i + limit);
      const deleted = dryRun ? slice.length : await deleteDagVersions(prisma, slice);
      counts.dag_version += deleted;
      await batchDone('dag_version', deleted);
    }
  }

  /** Rows nothing else hangs on: counted in a dry run, else deleted a batch at a time. */
  const cleanRows = async (
    table: 'log' | 'job',
    count: () => Promise<number>,
    deleteBatch: () => Promise<number>,
  ) => {
    if (dryRun) {
      counts[table] = await count();
      return;
    }
    for (;;) {
      const deleted = await deleteBatch();
      counts[table] += deleted;
      if (deleted > 0) await batchDone(table, deleted);
      if (deleted < limit) return;
    }
  };
  if (tables.has('log'))
    await cleanRows(
      'log',
      () => countEventLogToClean(prisma, before),
      () => deleteEventLogBatch(prisma, { before, limit }),
    );
  if (tables.has('job'))
    await cleanRows(
      'job',
      () => countJobsToClean(prisma, before),
      () => deleteJobBatch(prisma, { before, limit }),
    );
  return counts;
}
