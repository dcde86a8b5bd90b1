/**
 * Upgrades: a database made by an older release, with that release's rows in it, migrates to the
 * latest schema and reads back right through today's queries. One database per older migration
 * (every migration but the newest is where some release left its operators' databases), on the
 * one embedded server of the test run, through the real migration path (WebAssembly engine, pg
 * adapter). The seed is plain SQL with the columns each release had, as it wrote them.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from '../client.ts';
import { deserializeDag } from '@dagbag/dagbag';
import { createApiQueries } from '../queries/api/index.ts';
import { createDagVersionLoader } from '../queries/dag-versions.ts';
import { syncDagFromFile, type DagFileFields } from '../queries/dag-files.ts';
import { findTimedOutTaskInstances } from '../queries/scheduler/index.ts';
import { defaultDatabaseSettings } from '../settings.ts';
import { createEmptyDatabase, migrationsUpTo } from '../testing/index.ts';
import { readMigrationList } from './files.ts';
import { migrateDatabase } from './operations.ts';

/** The migrations that added what the seed writes (a release has it from there on). */
const SINCE = {
  currentVersion: '20261121053204_dag_run_current_version',
  apiOperations: '20261201154600_api_operations',
  history: '20261201154700_task_instance_history',
  timezone: '20261201162025_dag_timezone',
  triggeringUser: '20261201183926_dag_run_triggering_user_name',
};

const V1 = '00000000-0000-7000-8000-000000000001';
const V2 = '00000000-0000-7000-8000-000000000002';
const BOOM = '00000000-0000-4000-8000-0000000000b0';
const SOURCE = '{"dag_id": "etl"}';

/** A DAG as every release so far serialized it (serialized_dag.data, seen in the trials). */
function document(taskIds: string[]) {
  return {
    tags: ['up', 'etl'],
    tasks: taskIds.map((taskId, index) => ({
      retries: taskId === 'boom' ? 1 : 0,
      task_id: taskId,
      operator: 'bash',
      upstream: index === 0 ? [] : [taskIds[0]],
      bash_command: `echo ${taskId}`,
      trigger_rule: 'all_success',
      retry_delay_seconds: 300,
    })),
    dag_id: 'etl',
    catchup: false,
    schedule: '0 6 * * *',
    start_date: '2026-11-01T00:00:00+01:00',
    description: 'daily load',
    max_active_runs: 16,
  };
}

/** What a release at migration `at` had written: rows of every kind, in its columns. */
function seedSql(at: string): string {
  const has = (since: string) => at >= since;
  const optional = (since: string, column: string, value: string) =>
    has(since) ? { column: `, ${column}`, value: `, ${value}` } : { column: '', value: '' };
  const current = optional(SINCE.currentVersion, 'current_dag_version_id', `'${V1}'`);
  const user = optional(SINCE.triggeringUser, 'triggering_user_name', `'alice'`);
  // From dag_timezone on, a release stored the zone its file gave: here start_date's offset.
  const tz = optional(SINCE.timezone, 'timezone', `'+01:00'`);
  const tiNote = optional(SINCE.history, 'note', `'ti note'`);
  return `
    INSERT INTO dag (dag_id, is_paused, fileloc, relative_fileloc, description, timetable_summary,
                     tags, start_date, next_dagrun_logical_date, next_dagrun_create_after,
                     last_parsed_time${tz.column})
    VALUES ('etl', false, '/dags/etl.json', 'etl.json', 'daily load', '0 6 * * *', '{up,etl}',
            '2026-11-01T00:00:00+01:00', '2026-12-01T06:00:00Z', '2026-12-02T06:00:00Z',
            '2026-12-01T07:00:00Z'${tz.value}),
           ('quiet', true, '/dags/quiet.json', 'quiet.json', NULL, NULL, '{}', NULL, NULL, NULL,
            '2026-12-01T07:00:00Z'${has(SINCE.timezone) ? ', NULL' : ''});
    INSERT INTO dag_version (id, dag_id, version_number, created_at) VALUES
      ('${V1}', 'etl', 1, '2026-11-20T00:00:00Z'), ('${V2}', 'etl', 2, '2026-11-25T00:00:00Z');
    INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash) VALUES
      ('${V1}', 'etl', '${JSON.stringify(document(['extract']))}', 'hash-1'),
      ('${V2}', 'etl', '${JSON.stringify(document(['extract', 'boom', 'slow']))}', 'hash-2');
    ${
      has(SINCE.apiOperations)
        ? `INSERT INTO dag_code (dag_version_id, dag_id, fileloc, source_code, source_code_hash)
           VALUES ('${V2}', 'etl', '/dags/etl.json', '${SOURCE}', '${sha256(SOURCE)}');`
        : ''
    }
    INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, run_after, queued_at,
                         start_date, end_date, conf, note, triggered_by, created_dag_version_id
                         ${current.column}${user.column})
    VALUES ('etl', 'manual_conf', 'success', 'manual', '2026-11-30T00:00:00Z',
            '2026-11-30T00:00:00Z', '2026-11-30T00:00:01Z', '2026-11-30T00:00:02Z',
            '2026-11-30T00:00:09Z', '{"k": "v", "n": [1, 2]}', 'a note', 'rest_api', '${V1}'
            ${current.value}${user.value});
    INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, data_interval_start,
                         data_interval_end, start_date, end_date, triggered_by,
                         created_dag_version_id)
    VALUES ('etl', 'scheduled__2026-11-30T06:00:00+00:00', 'failed', 'scheduled',
            '2026-11-30T06:00:00Z', '2026-11-30T06:00:00Z', '2026-12-01T06:00:00Z',
            '2026-12-01T06:00:01Z', '2026-12-01T06:00:30Z', 'timetable', '${V2}');
    INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, start_date, triggered_by,
                         created_dag_version_id)
    VALUES ('etl', 'running_when_stopped', 'running', 'manual', NULL, '2026-12-01T08:00:00Z',
            'rest_api', '${V2}');
    INSERT INTO task_instance (dag_id, run_id, task_id, dag_version_id, state, try_number,
                               max_tries, operator, start_date, end_date, duration, hostname,
                               pid${tiNote.column})
    VALUES ('etl', 'manual_conf', 'extract', '${V1}', 'success', 1, 0, 'BashOperator',
            '2026-11-30T00:00:03Z', '2026-11-30T00:00:08Z', 5, 'host-a', 101${tiNote.value});
    INSERT INTO task_instance (id, dag_id, run_id, task_id, dag_version_id, state, try_number,
                               max_tries, operator, start_date, end_date, duration, hostname, pid)
    VALUES ('${BOOM}', 'etl', 'scheduled__2026-11-30T06:00:00+00:00', 'boom', '${V2}', 'failed',
            2, 1, 'BashOperator', '2026-12-01T06:00:20Z', '2026-12-01T06:00:29Z', 9, 'host-a',
            102);
    ${
      has(SINCE.history)
        ? `INSERT INTO task_instance_history (task_instance_id, dag_id, run_id, task_id,
             try_number, max_tries, state, operator, start_date, end_date, duration,
             dag_version_id)
           VALUES ('${BOOM}', 'etl', 'scheduled__2026-11-30T06:00:00+00:00', 'boom', 1, 1,
             'failed', 'BashOperator', '2026-12-01T06:00:02Z', '2026-12-01T06:00:10Z', 8,
             '${V2}');`
        : ''
    }
    INSERT INTO task_instance (dag_id, run_id, task_id, dag_version_id, state, try_number,
                               max_tries, operator, start_date, hostname, pid, last_heartbeat_at)
    VALUES ('etl', 'running_when_stopped', 'slow', '${V2}', 'running', 1, 0, 'BashOperator',
            '2026-12-01T08:00:01Z', 'host-a', 103, '2026-12-01T08:00:05Z');
    INSERT INTO import_error (filename, bundle_name, stacktrace, timestamp)
    VALUES ('broken.json', NULL, 'broken.json:2:1: invalid JSON', '2026-12-01T07:00:00Z');
    INSERT INTO job (job_type, state, hostname, pid, start_date, end_date, latest_heartbeat)
    VALUES ('SchedulerJob', 'success', 'host-a', 100, '2026-12-01T05:00:00Z',
            '2026-12-01T08:00:10Z', '2026-12-01T08:00:09Z');
    ${
      has(SINCE.apiOperations)
        ? `INSERT INTO log (dttm, dag_id, run_id, event, owner, extra)
           VALUES ('2026-11-30T00:00:00Z', 'etl', 'manual_conf', 'trigger_dag_run',
                   'token:0123456789ab', '{"conf": {"k": "v"}}');`
        : ''
    }`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function run(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * The migrations releases have shipped, with the checksum Prisma recorded for each in operators'
 * `_prisma_migrations` (SHA-256 of migration.sql). Add a migration here once it is on main.
 */
const RELEASED: Record<string, string> = {
  '20261121052718_init': 'f6438dad7cb9a5c72bb4eb1f3694be7656e33596e58d647c325236634fca4bdc',
  '20261121053204_dag_run_current_version':
    '6b46f4e8b6281214134aacf8d321c820117d098d77f10fba33f6db08ba56b660',
  '20261201154500_notifications':
    'b57b38fbd78f7625466add07999fdbabcfcf73ab337044415c4c468a7d07bc59',
  '20261201154600_api_operations':
    'e0888d7bd7a0ea8cda4ad02e6efb3e42c34c386aa2d49455f8d23e45f6774b71',
  '20261201154700_task_instance_history':
    '66e37b75fd8dc318a69fd461697bf7da56ebd1a152adc5717dc691943ce939c6',
  '20261201162025_dag_timezone': '21c7881a15a6c05725147d5de4fd23b8a1b55be0725b6383f4e5d9286d130035',
  '20261201183926_dag_run_triggering_user_name':
    'bae22754f05a6146fb523eae5fb2c7a8fb77c1712c6ddec53ba02034cbfbb4c5',
  '20261201204507_listing_notifications':
    '21ea319607f3e2a8776fe670d0f69ac671674f784ac8c9423ae444673589fcdc',
  '20261202073744_dag_run_run_after_indexes':
    'ba2e9c4c190930d74b210f3a4aa2c42a02ac22ad2aa8671fb8f873599d6b64d8',
  '20261202075033_task_instance_start_date_desc_index':
    '0ddaee16061c0f29dec43619bc0fc76dd9bc5bb03e83c0c068d9c3b4088f067a',
};

describe('released migrations', () => {
  it('are as operators applied them, and no new one sorts before them', async () => {
    const { migrationDirectories } = await readMigrationList();
    const newestReleased = Object.keys(RELEASED).sort().at(-1)!;
    const found = Object.fromEntries(
      migrationDirectories
        .filter((directory) => directory.path <= newestReleased)
        .map((directory) => {
          const content = directory.migrationFile.content;
          return [directory.path, content.tag === 'ok' ? sha256(content.value) : 'missing'];
        }),
    );
    expect(
      found,
      'an applied migration is never edited, removed or preceded by a new one (operators would ' +
        'not get the change, or get it out of order): put the change in a new migration, named ' +
        'after the newest (pnpm db:migration <name>)',
    ).toEqual(RELEASED);
  });
});

const page = { limit: 50, offset: 0 };

/** What today's DAG processor reads from etl's file (unchanged since the seed's release). */
const ETL_FIELDS: DagFileFields = {
  dagId: 'etl',
  fileloc: '/dags/etl.json',
  relativeFileloc: 'etl.json',
  description: 'daily load',
  timetableSummary: '0 6 * * *',
  tags: ['up', 'etl'],
  maxActiveRuns: 16,
  maxActiveTasks: 16,
  catchup: false,
  startDate: new Date('2026-10-31T23:00:00Z'),
  timezone: '+01:00',
};
const olderMigrations = (await readMigrationList()).migrationDirectories
  .map((directory) => directory.path)
  .slice(0, -1);

describe.each(olderMigrations)('a database a release left at %s', (at) => {
  let prisma: PrismaClient;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const db = await createEmptyDatabase();
    cleanups.push(db.drop);
    const release = await migrationsUpTo(at);
    cleanups.push(release.remove);
    await migrateDatabase(db.url, { migrationsDir: release.migrationsDir });
    await run(db.url, seedSql(at));
    await migrateDatabase(db.url);
    prisma = createPrismaClient({
      url: db.url,
      settings: defaultDatabaseSettings(),
      applicationName: 'test:upgrade',
    });
    cleanups.push(() => prisma.$disconnect());
  });

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('keeps its DAGs, paused or not, and their import errors', async () => {
    const queries = createApiQueries(prisma);
    const dags = await queries.listDags({ ...page, excludeStale: false, orderBy: [] });
    expect(dags.rows.map((row) => [row.dagId, row.isPaused])).toEqual([
      ['etl', false],
      ['quiet', true],
    ]);
    expect(await queries.getDag('etl')).toMatchObject({
      description: 'daily load',
      tags: ['up', 'etl'],
      timetableSummary: '0 6 * * *',
      startDate: new Date('2026-10-31T23:00:00Z'),
      nextDagrunCreateAfter: new Date('2026-12-02T06:00:00Z'),
    });
    const errors = await queries.listImportErrors({ ...page, orderBy: [] });
    expect(errors.rows).toMatchObject([
      { filename: 'broken.json', stackTrace: 'broken.json:2:1: invalid JSON' },
    ]);
  });

  it('keeps its runs with their states, conf, notes and versions', async () => {
    const queries = createApiQueries(prisma);
    const runs = await queries.listDagRuns({
      ...page,
      dagId: 'etl',
      orderBy: [{ column: 'id', descending: false }],
    });
    expect(runs.rows.map((row) => [row.runId, row.state])).toEqual([
      ['manual_conf', 'success'],
      ['scheduled__2026-11-30T06:00:00+00:00', 'failed'],
      ['running_when_stopped', 'running'],
    ]);
    expect(runs.rows[0]).toMatchObject({
      runType: 'manual',
      logicalDate: new Date('2026-11-30T00:00:00Z'),
      conf: { k: 'v', n: [1, 2] },
      note: 'a note',
      triggeredBy: 'rest_api',
      triggeringUserName: at >= SINCE.triggeringUser ? 'alice' : null,
      startDate: new Date('2026-11-30T00:00:02Z'),
      endDate: new Date('2026-11-30T00:00:09Z'),
    });
    expect(runs.rows[0]!.dagVersions.map((version) => version.versionNumber)).toEqual([1]);
    expect(runs.rows[1]).toMatchObject({
      dataIntervalStart: new Date('2026-11-30T06:00:00Z'),
      dataIntervalEnd: new Date('2026-12-01T06:00:00Z'),
      conf: {},
      note: null,
    });
    expect(runs.rows[2]!.logicalDate).toBeNull();
  });

  it('serves each run the version it ran, as its release serialized it', async () => {
    const loader = createDagVersionLoader(prisma);
    const taskIdsOf = async (runId: string) => {
      const version = await loader.resolveVersion({ dagId: 'etl', runId }, []);
      const dag = deserializeDag(JSON.parse(version!.dataText!));
      return [version!.versionNumber, [...dag.tasks.keys()]];
    };
    expect(await taskIdsOf('manual_conf')).toEqual([1, ['extract']]);
    expect(await taskIdsOf('running_when_stopped')).toEqual([2, ['extract', 'boom', 'slow']]);
  });

  it('keeps its task instances and their tries', async () => {
    const queries = createApiQueries(prisma);
    const extract = await queries.getTaskInstance('etl', 'manual_conf', 'extract');
    expect(extract).toMatchObject({
      state: 'success',
      tryNumber: 1,
      maxTries: 0,
      duration: 5,
      hostname: 'host-a',
      note: at >= SINCE.history ? 'ti note' : null,
    });
    const key = {
      dagId: 'etl',
      runId: 'scheduled__2026-11-30T06:00:00+00:00',
      taskId: 'boom',
      mapIndex: -1,
    };
    const tries = await queries.listTaskInstanceTries(key);
    expect(tries.map((t) => [t.tryNumber, t.state])).toEqual(
      at >= SINCE.history
        ? [
            [1, 'failed'],
            [2, 'failed'],
          ]
        : [[2, 'failed']],
    );
  });

  it('keeps its event log', async () => {
    const events = await createApiQueries(prisma).listEventLogs({ ...page, orderBy: [] });
    expect(events.rows).toMatchObject(
      at >= SINCE.apiOperations
        ? [{ event: 'trigger_dag_run', owner: 'token:0123456789ab', runId: 'manual_conf' }]
        : [],
    );
  });

  it('times out the task that was running when it stopped', async () => {
    const timedOut = await findTimedOutTaskInstances(prisma, { timeoutSeconds: 60, limit: 10 });
    expect(timedOut.map((ti) => [ti.runId, ti.taskId, ti.tryNumber])).toEqual([
      ['running_when_stopped', 'slow', 1],
    ]);
  });

  it("parsed again unchanged, a DAG takes the time zone its file's start_date gives", async () => {
    // Releases before dag_timezone read every cron in UTC and stored no zone. The file did not
    // change, so its hash and text are as stored; only the zone, new, tells the schedule apart.
    const next = {
      logicalDate: new Date('2026-12-02T05:00:00Z'),
      dataIntervalStart: new Date('2026-12-02T05:00:00Z'),
      dataIntervalEnd: new Date('2026-12-03T05:00:00Z'),
      createAfter: new Date('2026-12-03T05:00:00Z'),
    };
    await syncDagFromFile(prisma, {
      fields: ETL_FIELDS,
      data: { dag_id: 'etl', v: 2 },
      dagHash: 'hash-2',
      firstDagrun: () => next,
      liveFilelocs: new Set(),
      sourceCode: SOURCE,
    });

    // Before: 'unchanged' for a database that had the file's text (dag_code): the zone stayed
    // null and the 06:00 run kept coming at 06:00 UTC, an hour late, until the file changed.
    const dag = await createApiQueries(prisma).getDag('etl');
    expect(dag).toMatchObject({ timezone: '+01:00' });
    if (at < SINCE.timezone) expect(dag?.nextDagrunCreateAfter).toEqual(next.createAfter);
  });

  it('gives a changed DAG the next version number, and a new run records it', async () => {
    const outcome = await syncDagFromFile(prisma, {
      fields: ETL_FIELDS,
      data: { dag_id: 'etl', v: 3 },
      dagHash: 'hash-3',
      firstDagrun: () => null,
      liveFilelocs: new Set(),
      sourceCode: '{"dag_id": "etl", "v": 3}',
    });
    expect(outcome).toBe('new_version');
    const versions = await prisma.dagVersion.findMany({
      where: { dagId: 'etl' },
      orderBy: { versionNumber: 'asc' },
      select: { versionNumber: true },
    });
    expect(versions.map((version) => version.versionNumber)).toEqual([1, 2, 3]);
  });
});
