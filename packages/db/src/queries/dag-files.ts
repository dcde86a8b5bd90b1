/**
 * Writes of the DAG file processor: the `dag` row, new or in-place updated versions, stale DAGs
 * and import errors. A DAG whose file did not change costs reads only and writes nothing.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_MAX_ACTIVE_TASKS, scheduleTimezone, type DagDocument } from '@dagbag/dagbag';
import { ADVISORY_LOCK_KEYS } from '../advisory-locks.ts';
import { Prisma } from '../generated/prisma/client.ts';
import type { PrismaClient } from '../client.ts';
import { latestVersionIdSql } from './dag-versions/latest.ts';
import { setNextDagrun, type NextDagrun } from './next-dagrun.ts';

/** The `dag` row fields a file determines (Airflow's DagModel columns the processor owns). */
export interface DagFileFields {
  dagId: string;
  fileloc: string;
  relativeFileloc: string;
  description: string | null;
  /** The schedule as written (`@hourly`, a cron expression) or null. */
  timetableSummary: string | null;
  tags: string[];
  maxActiveRuns: number;
  /** Task instances of one run queued or running at once (the claim's room). */
  maxActiveTasks: number;
  catchup: boolean;
  startDate: Date | null;
  /** The schedule's time zone (IANA name or fixed offset like +01:00); null: UTC. */
  timezone: string | null;
}

/**
 * The `dag` row fields of a parsed document found at `fileloc` (`relativeFileloc` under the DAG
 * folder): one derivation for the processor and the demo seed, so both write the same row.
 */
export function dagFileFields(
  document: DagDocument,
  location: { fileloc: string; relativeFileloc: string },
): DagFileFields {
  return {
    dagId: document.dag_id,
    fileloc: location.fileloc,
    relativeFileloc: location.relativeFileloc,
    description: document.description ?? null,
    timetableSummary: document.schedule,
    tags: [...document.tags],
    maxActiveRuns: document.max_active_runs,
    maxActiveTasks: document.max_active_tasks ?? DEFAULT_MAX_ACTIVE_TASKS,
    catchup: document.catchup,
    startDate: document.start_date ? new Date(document.start_date) : null,
    timezone: scheduleTimezone(document),
  };
}

export type DagSyncOutcome =
  | 'created'
  | 'new_version'
  | 'updated_in_place'
  | 'metadata_updated'
  | 'unchanged'
  | { duplicateOf: string };

interface CurrentState {
  fileloc: string | null;
  isStale: boolean;
  timetableSummary: string | null;
  startDate: Date | null;
  timezone: string | null;
  versionId: string | null;
  versionNumber: number | null;
  dagHash: string | null;
  sourceHash: string | null;
}

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

async function readCurrent(
  db: PrismaClient | Tx,
  dagId: string,
  lock: boolean,
): Promise<CurrentState | undefined> {
  const select = Prisma.sql`
    SELECT d.fileloc, d.is_stale AS "isStale", d.timetable_summary AS "timetableSummary", d.start_date AS "startDate", d.timezone,
           v.id::text AS "versionId", v.version_number AS "versionNumber", s.dag_hash AS "dagHash",
           c.source_code_hash AS "sourceHash"
    FROM dag d
    LEFT JOIN dag_version v ON v.id = ${latestVersionIdSql({ column: 'd.dag_id' })}
    LEFT JOIN serialized_dag s ON s.dag_version_id = v.id
    LEFT JOIN dag_code c ON c.dag_version_id = v.id
    WHERE d.dag_id = ${dagId}`;
  const rows = await db.$queryRaw<CurrentState[]>(
    lock ? Prisma.sql`${select} FOR UPDATE OF d` : select,
  );
  return rows[0];
}

/**
 * Stores one parsed DAG file:
 * - same hash, same file, not stale: nothing is written (reads only);
 * - changed, and the latest version was never used by a task instance: that version's
 *   `serialized_dag` is updated in place (as Airflow does), so no unused version piles up;
 * - changed otherwise (or first sight): a new `dag_version` + `serialized_dag`.
 * The `dag` row follows the file each time something is written. A dag_id whose file is one of
 * `liveFilelocs` (still there, still holding it) is refused (`duplicateOf`), leaving it untouched.
 */
export async function syncDagFromFile(
  prisma: PrismaClient,
  /**
   * liveFilelocs: files that still hold their DAGs (there but broken); another file cannot take a
   * DAG from them.
   */
  input: {
    fields: DagFileFields;
    data: unknown;
    dagHash: string;
    /**
     * The next run the schedule gives, applied for a new DAG or a new schedule: `after` is the end
     * of the DAG's last scheduled run's data interval (null if none), so a changed schedule
     * continues after it instead of re-running history from start_date.
     */
    firstDagrun: (after: Date | null) => NextDagrun | null;
    liveFilelocs: ReadonlySet<string>;
    /** The file's text, kept with the version (`dag_code`) for GET /dagSources. */
    sourceCode: string;
    /** `is_paused` of a DAG seen for the first time (the file's `is_paused_upon_creation`). */
    pausedUponCreation?: boolean;
    /** A parse of this file was asked for (PUT /parseDagFile): last_parsed_time moves anyway. */
    parseRequested?: boolean;
  },
): Promise<DagSyncOutcome> {
  const { fields } = input;
  const sourceHash = createHash('sha256').update(input.sourceCode).digest('hex');
  const before = await readCurrent(prisma, fields.dagId, false);
  if (
    before &&
    before.fileloc !== fields.fileloc &&
    before.fileloc !== null &&
    !before.isStale &&
    input.liveFilelocs.has(before.fileloc)
  ) {
    return { duplicateOf: before.fileloc };
  }
  if (
    before &&
    before.dagHash === input.dagHash &&
    before.sourceHash === sourceHash &&
    before.fileloc === fields.fileloc &&
    // The hash covers the file, not what was derived from it: releases before dag_timezone stored
    // no zone, so an unchanged file may still have its zone (and its schedule in it) to write.
    before.timezone === fields.timezone &&
    !before.isStale
  ) {
    // Asked for (PUT /parseDagFile) and found as stored: the DAG was parsed now, which is what a
    // client polling last_parsed_time after its request waits to see. Otherwise nothing is
    // written: a processor that takes over the lock reads every file again.
    if (input.parseRequested)
      await prisma.$executeRaw`UPDATE dag SET last_parsed_time = now() WHERE dag_id = ${fields.dagId}`;
    return 'unchanged';
  }

  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO dag (dag_id, fileloc, is_paused) VALUES (${fields.dagId}, ${fields.fileloc}, ${input.pausedUponCreation ?? false})
      ON CONFLICT (dag_id) DO NOTHING`;
    const current = (await readCurrent(tx, fields.dagId, true))!;
    // next_dagrun_* are the scheduler's from here on: reset only for a new DAG or a new schedule.
    const scheduleChanged =
      current.versionId === null ||
      current.timetableSummary !== fields.timetableSummary ||
      current.timezone !== fields.timezone ||
      (current.startDate?.getTime() ?? null) !== (fields.startDate?.getTime() ?? null);
    await tx.$executeRaw`
      UPDATE dag SET
        is_stale = false, last_parsed_time = now(), fileloc = ${fields.fileloc}, relative_fileloc = ${fields.relativeFileloc},
        description = ${fields.description}, tags = ${fields.tags}::text[], max_active_runs = ${fields.maxActiveRuns},
        max_active_tasks = ${fields.maxActiveTasks}, catchup = ${fields.catchup}, timetable_summary = ${fields.timetableSummary}, start_date = ${fields.startDate},
        timezone = ${fields.timezone}
      WHERE dag_id = ${fields.dagId}`;
    if (scheduleChanged) {
      const last = await tx.$queryRaw<{ end: Date | null }[]>`
        SELECT max(data_interval_end) AS "end" FROM dag_run
        WHERE dag_id = ${fields.dagId} AND run_type = 'scheduled'`;
      await setNextDagrun(tx, fields.dagId, input.firstDagrun(last[0]?.end ?? null));
    }
    if (current.dagHash === input.dagHash) {
      // Same meaning (say, a comment or the formatting changed): the version stays, its text
      // follows.
      if (current.versionId !== null && current.sourceHash !== sourceHash)
        await upsertDagCode(tx, current.versionId, input, sourceHash);
      return 'metadata_updated';
    }

    const json = JSON.stringify(input.data);
    if (current.versionId !== null) {
      // Locked first: a scheduler starting runs on this version holds it FOR SHARE until their
      // task instances exist, so the check below sees them and a new version is made instead.
      await tx.$executeRaw`
        SELECT 1 FROM serialized_dag WHERE dag_version_id = ${current.versionId}::uuid FOR UPDATE`;
      const used = await tx.$queryRaw<{ used: boolean }[]>`
        SELECT EXISTS (SELECT 1 FROM task_instance WHERE dag_version_id = ${current.versionId}::uuid) AS used`;
      if (!used[0]!.used) {
        await tx.$executeRaw`
          UPDATE serialized_dag SET data = ${json}::jsonb, dag_hash = ${input.dagHash}, last_updated = now()
          WHERE dag_version_id = ${current.versionId}::uuid`;
        await upsertDagCode(tx, current.versionId, input, sourceHash);
        return 'updated_in_place';
      }
    }
    // Time-ordered ids (UUIDv7, as Airflow's): ordering versions by id is ordering them by
    // creation.
    const versions = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO dag_version (id, dag_id, version_number)
      VALUES (${uuidv7()}::uuid, ${fields.dagId}, ${(current.versionNumber ?? 0) + 1})
      RETURNING id::text AS id`;
    await tx.$executeRaw`
      INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash)
      VALUES (${versions[0]!.id}::uuid, ${fields.dagId}, ${json}::jsonb, ${input.dagHash})`;
    await upsertDagCode(tx, versions[0]!.id, input, sourceHash);
    return current.versionId === null ? 'created' : 'new_version';
  });
}

/** The text of a version's file (Airflow's `dag_code`), inserted or replaced. */
async function upsertDagCode(
  db: PrismaClient | Tx,
  versionId: string,
  input: { fields: DagFileFields; sourceCode: string },
  sourceHash: string,
): Promise<void> {
  await db.$executeRaw`
    INSERT INTO dag_code (dag_version_id, dag_id, fileloc, source_code, source_code_hash)
    VALUES (${versionId}::uuid, ${input.fields.dagId}, ${input.fields.fileloc}, ${input.sourceCode}, ${sourceHash})
    ON CONFLICT (dag_version_id) DO UPDATE SET
      fileloc = EXCLUDED.fileloc, source_code = EXCLUDED.source_code,
      source_code_hash = EXCLUDED.source_code_hash, last_updated = now()`;
}

/** Asks the DAG processor to parse this file on its next pass, even if its text looks unchanged. */
export async function requestDagFileParse(db: PrismaClient | Tx, fileloc: string): Promise<void> {
  await db.$executeRaw`
    INSERT INTO dag_priority_parsing_request (fileloc) VALUES (${fileloc})
    ON CONFLICT (fileloc) DO UPDATE SET requested_at = now()`;
}

/** The files whose parse was requested, taken (deleted) in one statement: each is handled once. */
export async function takeDagFileParseRequests(prisma: PrismaClient): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ fileloc: string }[]>`
    DELETE FROM dag_priority_parsing_request RETURNING fileloc`;
  return rows.map((row) => row.fileloc);
}

/**
 * The file each of these DAGs is stored from (stale DAGs excluded): when two files define one
 * dag_id, the one already holding it keeps it.
 */
export async function currentDagFilelocs(
  prisma: PrismaClient,
  dagIds: readonly string[],
): Promise<Map<string, string>> {
  if (dagIds.length === 0) return new Map();
  const rows = await prisma.$queryRaw<{ dagId: string; fileloc: string }[]>`
    SELECT dag_id AS "dagId", fileloc FROM dag
    WHERE dag_id = ANY(${[...dagIds]}::text[]) AND NOT is_stale AND fileloc IS NOT NULL`;
  return new Map(rows.map((row) => [row.dagId, row.fileloc]));
}

/**
 * DAGs no file defines any more become stale (their history stays readable). A DAG whose file is
 * still there but fails to import is kept: a typo must not hide a DAG.
 */
export async function markStaleDags(
  prisma: PrismaClient,
  input: { definedDagIds: readonly string[]; brokenFilelocs: readonly string[] },
): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ dagId: string }[]>`
    UPDATE dag SET is_stale = true
    WHERE NOT is_stale AND dag_id <> ALL(${[...input.definedDagIds]}::text[])
      AND (fileloc IS NULL OR fileloc <> ALL(${[...input.brokenFilelocs]}::text[]))
    RETURNING dag_id AS "dagId"`;
  return rows.map((row) => row.dagId);
}

/**
 * Airflow's `has_import_errors` of the `dag` row named `alias`: an import error is recorded for its
 * file. Such a DAG gets no scheduled run (Airflow's dags_needing_dagruns) and no manual one.
 */
export function hasImportErrorsSql(alias: string): Prisma.Sql {
  const dag = Prisma.raw(alias);
  return Prisma.sql`EXISTS (SELECT 1 FROM import_error e WHERE e.filename IN (${dag}.fileloc, ${dag}.relative_fileloc))`;
}

/**
 * Records (or refreshes) a file's import error; writes only when the text changed. Called for
 * every broken file on every pass: an `INSERT ... ON CONFLICT DO UPDATE` took an id from the
 * sequence each time, even when it changed nothing (12 a minute per file that stays broken), on
 * the way to the end of `import_error.id`'s integers, after which no import error could be
 * recorded and the processor stopped. Now an id is taken only when a row is added.
 */
export async function recordImportError(
  prisma: PrismaClient,
  input: { filename: string; bundleName: string; stacktrace: string },
): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ written: number }[]>`
    WITH changed AS (
      UPDATE import_error SET stacktrace = ${input.stacktrace}, bundle_name = ${input.bundleName}, timestamp = now()
      WHERE filename = ${input.filename} AND stacktrace IS DISTINCT FROM ${input.stacktrace}
      RETURNING 1
    ), added AS (
      INSERT INTO import_error (filename, bundle_name, stacktrace, timestamp)
      SELECT ${input.filename}, ${input.bundleName}, ${input.stacktrace}, now()
      WHERE NOT EXISTS (SELECT 1 FROM import_error WHERE filename = ${input.filename})
      ON CONFLICT (filename) DO NOTHING
      RETURNING 1
    )
    SELECT ((SELECT count(*) FROM changed) + (SELECT count(*) FROM added))::int AS written`;
  return (rows[0]?.written ?? 0) > 0;
}

/** Deletes import errors of the bundle except those of `keep` (fixed or vanished files). */
export async function clearImportErrors(
  prisma: PrismaClient,
  input: { bundleName: string; keep: readonly string[] },
): Promise<number> {
  return prisma.$executeRaw`
    DELETE FROM import_error
    WHERE (bundle_name = ${input.bundleName} OR bundle_name IS NULL) AND filename <> ALL(${[...input.keep]}::text[])`;
}

/**
 * "One processor at a time": a session-level advisory lock on a connection of its own. It is
 * held for as long as this process keeps the connection; a crash closes the connection and frees
 * the lock for another scheduler.
 */
export class DagProcessorLock {
  static readonly KEY = ADVISORY_LOCK_KEYS.dagProcessor;
  private client: pg.Client | undefined;
  private held = false;
  private readonly url: string;

  constructor(url: string) {
    this.url = url;
  }

  /** Whether this process holds the lock (acquiring it if free). Never throws. */
  async tryAcquire(): Promise<boolean> {
    if (this.held && this.client) return true;
    try {
      if (!this.client) {
        const client = new pg.Client({
          connectionString: this.url,
          application_name: 'dagbag-dag-processor',
        });
        client.on('error', () => this.drop());
        await client.connect();
        this.client = client;
      }
      const result = await this.client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1) AS locked',
        [DagProcessorLock.KEY],
      );
      this.held = result.rows[0]?.locked === true;
    } catch {
      this.drop();
    }
    return this.held;
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    if (client) await client.end().catch(() => undefined);
  }

  private drop(): void {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    client?.end().catch(() => undefined);
  }
}
