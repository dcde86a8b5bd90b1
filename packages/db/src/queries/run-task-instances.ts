/**
 * The task instances of a run, created with the run as Airflow's `create_dagrun` does
 * (`verify_integrity`): one per task of the run's version, `map_index` -1, state null. The API's
 * trigger and the scheduler's scheduled runs create them here, in the transaction that inserts the
 * run; the scheduler's start of a queued run inserts whatever is missing (a run created before
 * this rule, or one whose version's definition could not be read) and leaves the rest alone.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Prisma, PrismaClient } from '../client.ts';
import type { TaskSpec } from './scheduler/types.ts';

type Db = Prisma.TransactionClient | PrismaClient;

/**
 * Where the caller's deserialized DAG versions come from: a DagBag fits. The definition used must
 * be the one stored now (a version is updated in place while no task instance refers to it).
 */
export interface VersionSource {
  get(versionId: string): Promise<{
    dagHash: string;
    dag: { tasks: ReadonlyMap<string, TaskSpec> };
  } | null>;
  /** Drops a cached definition that is no longer the stored one. */
  invalidate(versionId: string): unknown;
}

/**
 * Task instance ids are UUIDv7, as Airflow's (`uuid7()` in models/taskinstance.py): time-ordered,
 * so ordering by id follows creation, and within one insert the runs' order, then the tasks' order
 * of the version (the uuid package's v7 stays monotonic within a millisecond). Made here rather
 * than by PostgreSQL, whose `uuidv7()` only exists from version 18; the column's default (v4) is
 * only a fallback for hand-written rows.
 */
export function newTaskInstanceId(): string {
  return uuidv7();
}

/** The columns of one instance per task of each run, runs first, ids in that order. */
export function taskInstanceRows(
  runs: readonly { dagId: string; runId: string }[],
  tasks: readonly TaskSpec[],
) {
  const rows = {
    ids: [] as string[],
    dagIds: [] as string[],
    runIds: [] as string[],
    taskIds: [] as string[],
    operators: [] as string[],
    retries: [] as number[],
  };
  for (const run of runs) {
    for (const task of tasks) {
      rows.ids.push(newTaskInstanceId());
      rows.dagIds.push(run.dagId);
      rows.runIds.push(run.runId);
      rows.taskIds.push(task.taskId);
      rows.operators.push(task.operator);
      rows.retries.push(task.retries);
    }
  }
  return rows;
}

/**
 * One instance per task of each run, idempotent: existing instances (a cleared run's, or those
 * its creation made, perhaps patched since) are left as they are.
 */
export async function insertTaskInstances(
  db: Db,
  input: {
    runs: readonly { dagId: string; runId: string }[];
    versionId: string;
    tasks: readonly TaskSpec[];
  },
): Promise<number> {
  if (input.tasks.length === 0 || input.runs.length === 0) return 0;
  const rows = taskInstanceRows(input.runs, input.tasks);
  return db.$executeRaw`
    INSERT INTO task_instance (id, dag_id, run_id, task_id, map_index, dag_version_id, state, try_number, max_tries, operator, updated_at)
    SELECT t.id, t.dag_id, t.run_id, t.task_id, -1, ${input.versionId}::uuid, NULL, 0, t.retries, t.operator, now()
    FROM unnest(${rows.ids}::uuid[], ${rows.dagIds}::text[], ${rows.runIds}::text[], ${rows.taskIds}::text[],
                ${rows.operators}::text[], ${rows.retries}::int[])
      AS t(id, dag_id, run_id, task_id, operator, retries)
    ON CONFLICT (dag_id, run_id, task_id, map_index) DO NOTHING`;
}

/**
 * Thrown inside a transaction when the cached definition is not the stored one and the caller
 * asked not to load in the transaction: it rolls back, loads outside and tries again.
 */
export class StaleCachedVersionError extends Error {
  readonly versionId: string;

  constructor(versionId: string) {
    super(`the cached definition of DAG version ${versionId} was updated in place`);
    this.versionId = versionId;
  }
}

/**
 * Creates the task instances of a run just inserted in the transaction `tx`, from the tasks of
 * `versionId` as `versions` holds them. The version's stored definition is locked FOR SHARE and
 * its hash compared with the cached one, so the instances are those of the definition stored now,
 * and an in-place update waits, then sees the version used and makes a new one. When the hashes
 * differ the cached one is dropped; then with `loadInTransaction` the definition is loaded once
 * here, else StaleCachedVersionError is thrown. A load here waits for a second pooled connection
 * while this transaction holds one: callers that run many transactions at once (the API's
 * triggers) must not load here, or a full pool waits on itself until the transaction times out.
 * False when the definition cannot be read: the scheduler then creates the instances when it
 * starts the run.
 */
export async function createRunTaskInstances(
  tx: Prisma.TransactionClient,
  input: {
    dagId: string;
    runId: string;
    versionId: string;
    versions: VersionSource;
    loadInTransaction: boolean;
  },
): Promise<boolean> {
  const stored = await tx.$queryRaw<{ dagHash: string }[]>`
    SELECT dag_hash AS "dagHash" FROM serialized_dag
    WHERE dag_version_id = ${input.versionId}::uuid
    FOR SHARE`;
  const storedHash = stored[0]?.dagHash;
  if (storedHash === undefined) return false;
  let entry = await input.versions.get(input.versionId);
  if (entry !== null && entry.dagHash !== storedHash) {
    input.versions.invalidate(input.versionId);
    if (!input.loadInTransaction) throw new StaleCachedVersionError(input.versionId);
    entry = await input.versions.get(input.versionId);
  }
  if (entry === null || entry.dagHash !== storedHash) return false;
  await insertTaskInstances(tx, {
    runs: [{ dagId: input.dagId, runId: input.runId }],
    versionId: input.versionId,
    tasks: [...entry.dag.tasks.values()],
  });
  return true;
}
