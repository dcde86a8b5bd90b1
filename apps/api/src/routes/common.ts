/** What every route module shares: its context, the not-found errors it raises, small helpers. */
import { DAGS_FOLDER_BUNDLE, type DagBag } from '@dagbag/dagbag';
import type { ApiQueries, RetriesOf, TimeRange } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { ListingCache } from '../listing-cache.ts';
import { TASK_POOL, TASK_QUEUE } from '../serialize.ts';

/** The part of the DAG cache the API uses. */
export type ApiDagBag = Pick<
  DagBag,
  'get' | 'getVersion' | 'getForRun' | 'getLatest' | 'invalidate' | 'stats'
>;

export interface RouteContext {
  queries: ApiQueries;
  dagBag: ApiDagBag;
  /** `GET /dags` answers; writes of `dag` invalidate it before they answer. */
  listings: ListingCache;
  /** Root of the task log tree (`<dataDir>/logs`). */
  logsDir: string;
  version: string;
  gitVersion: string | null;
}

/**
 * Airflow's bundle filters (GET /dags, GET /dags/{dag_id}/dagVersions). Every DAG here is of the
 * DAGs folder's bundle and none has a bundle version: a value asking for another bundle, or for
 * any version, selects nothing, where ignoring it answered everything.
 */
export const bundleFilters = {
  bundle_name: z
    .string()
    .optional()
    .openapi({
      description: `Every DAG here is of the DAGs folder's bundle: \`${DAGS_FOLDER_BUNDLE}\` selects all, any other value none.`,
    }),
  bundle_version: z
    .string()
    .optional()
    .openapi({ description: 'DAGs here have no bundle version: any value selects nothing.' }),
};

export const bundleSelectsNothing = (query: { bundle_name?: string; bundle_version?: string }) =>
  (query.bundle_name !== undefined && query.bundle_name !== DAGS_FOLDER_BUNDLE) ||
  query.bundle_version !== undefined;

export const dagNotFound = (dagId: string) =>
  ApiError.notFound(`The DAG with dag_id: \`${dagId}\` was not found`);

export const runNotFound = (dagId: string, runId: string) =>
  ApiError.notFound(`The DagRun with dag_id: \`${dagId}\` and run_id: \`${runId}\` was not found`);

export const dagVersionNotFound = (dagId: string, versionNumber: number) =>
  ApiError.notFound(
    `The DagVersion with dag_id: \`${dagId}\` and version_number: \`${versionNumber}\` was not found`,
  );

/** The run or a 404 naming it. */
export async function requireRun(queries: ApiQueries, dagId: string, runId: string) {
  const run = await queries.getDagRun(dagId, runId);
  if (!run) throw runNotFound(dagId, runId);
  return run;
}

/** The bounds of `<prefix>_gte`, `_gt`, `_lte`, `_lt` that are set, or undefined for none. */
export function range(
  query: Record<string, Date | undefined>,
  prefix: string,
): TimeRange | undefined {
  const bounds = {
    gte: query[`${prefix}_gte`],
    gt: query[`${prefix}_gt`],
    lte: query[`${prefix}_lte`],
    lt: query[`${prefix}_lt`],
  };
  return Object.values(bounds).some((value) => value !== undefined) ? bounds : undefined;
}

/**
 * The date ranges every run and task-instance listing takes (query or batch body): Airflow's
 * `run_after_*`, `logical_date_*`, `start_date_*` and `end_date_*` bounds.
 */
export function runDateRanges(query: Record<string, Date | undefined>) {
  return {
    runAfter: range(query, 'run_after'),
    logicalDate: range(query, 'logical_date'),
    startDate: range(query, 'start_date'),
    endDate: range(query, 'end_date'),
  };
}

/** Retries of a task in the version its instance uses, read through the DAG cache (for clears). */
export function retriesOfTasks(dagBag: ApiDagBag): RetriesOf {
  return async (versionId, taskId) => {
    if (versionId === null) return undefined;
    const entry = await dagBag.get(versionId);
    return entry?.dag.tasks.get(taskId)?.retries;
  };
}

/**
 * Airflow's `pool`, `queue` and `executor` filters of the task instance listings. Every instance
 * here is in TASK_POOL and TASK_QUEUE and names no executor: a filter that leaves those out, or
 * names any executor, selects nothing (ignoring it answered everything).
 */
export function placementSelectsNothing(filters: {
  pool?: readonly string[] | null;
  queue?: readonly string[] | null;
  executor?: readonly string[] | null;
}): boolean {
  const pool = listFilter(filters.pool);
  const queue = listFilter(filters.queue);
  return (
    (pool !== undefined && !pool.includes(TASK_POOL)) ||
    (queue !== undefined && !queue.includes(TASK_QUEUE)) ||
    listFilter(filters.executor) !== undefined
  );
}

/**
 * A list filter as Airflow's FilterParam takes it: an empty list filters nothing, as null does
 * (a client building the list from its own data gets every row, not none).
 */
export function listFilter<T>(values: readonly T[] | null | undefined): T[] | undefined {
  return values == null || values.length === 0 ? undefined : [...values];
}
