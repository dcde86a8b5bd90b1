/**
 * The listings' plans on tables big enough (and analyzed) for PostgreSQL to choose as it does in
 * production: a page comes off an index in order, instead of every matching row being read and
 * sorted for it (packages/db/bench measures the same calls on a year of history).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRecordingPrismaClient,
  createTestDatabase,
  type RecordingClient,
  type TestDatabase,
} from '../../testing/index.ts';
import { RUN_NOT_NULL, RUN_SORT_COLUMNS } from './dag-runs.ts';
import { VERSION_NOT_NULL, VERSION_SORT_COLUMNS } from './dags.ts';
import { EVENT_LOG_NOT_NULL, EVENT_LOG_SORT_COLUMNS } from './event-logs.ts';
import { createApiQueries, type ApiQueries } from './index.ts';
import { TASK_INSTANCE_NOT_NULL, TASK_INSTANCE_SORT_COLUMNS } from './task-instances.ts';

const DAGS = 200;
const RUNS_PER_DAG = 100;
const EVENTS = 20_000;

let db: TestDatabase;
let recording: RecordingClient;
let queries: ApiQueries;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  recording = createRecordingPrismaClient(db.url);
  queries = createApiQueries(recording.prisma);
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`
    INSERT INTO dag (dag_id) SELECT 'dag_' || i FROM generate_series(1, ${DAGS}) i;
    INSERT INTO dag_run (dag_id, run_id, state, run_type, run_after, start_date, updated_at)
    SELECT 'dag_' || i, 'run_' || n, 'success', 'scheduled',
           timestamptz '2026-01-01' + n * interval '1 hour' + i * interval '1 second',
           timestamptz '2026-01-01' + n * interval '1 hour', now()
    FROM generate_series(1, ${DAGS}) i, generate_series(1, ${RUNS_PER_DAG}) n;
    INSERT INTO task_instance (dag_id, run_id, task_id, state, start_date, updated_at)
    SELECT dag_id, run_id, 'extract', CASE WHEN id % 10 = 0 THEN NULL ELSE 'success' END,
           CASE WHEN id % 10 = 0 THEN NULL ELSE start_date END, now()
    FROM dag_run;
    INSERT INTO log (dttm, dag_id, event, owner)
    SELECT timestamptz '2026-01-01' + g * interval '1 minute', 'dag_' || (g % ${DAGS}), 'failed', 'scheduler'
    FROM generate_series(1, ${EVENTS}) g;
    `);
  await client.query('VACUUM ANALYZE'); // as autovacuum keeps a live database: visibility too
});

afterAll(async () => {
  await client.end();
  await recording.prisma.$disconnect();
  await db.drop();
});

/** The plan (EXPLAIN, as text) of the last page (LIMIT) read with `fromClause`. */
async function planOfLast(fromClause: string, page = true): Promise<string> {
  const query = recording.queries.findLast(
    (q) => q.text.includes(fromClause) && (!page || q.text.includes('LIMIT')),
  );
  if (!query) throw new Error(`no page read with ${fromClause} was sent`);
  const { rows } = await client.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN ${query.text.replace('/* prepared */', '')}`,
    query.values,
  );
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

const firstPage = { limit: 50, offset: 0 };

describe('listing plans', () => {
  it('read the newest runs of every DAG off the run_after index, sorting none', async () => {
    const page = await queries.listDagRuns({
      ...firstPage,
      orderBy: [{ column: 'run_after', descending: true }],
    });
    expect(page.total).toBe(DAGS * RUNS_PER_DAG);
    const plan = await planOfLast('FROM dag_run r');
    expect(plan).toContain('Index Scan Backward using dag_run_run_after_idx');
    expect(plan).not.toContain('WindowAgg');
  });

  it('read the runs after a recent time off the run_after index in id order, not by walking every id', async () => {
    // Ten runs of each DAG's hundred; in production the newest runs are the highest ids, and a walk
    // of the primary key from the start drops every older run first (a million runs: 0.4-1 s).
    const since = new Date(Date.parse('2026-01-01') + 91 * 3_600_000);
    const page = await queries.listDagRuns({ ...firstPage, runAfter: { gte: since }, orderBy: [] });
    expect(page.total).toBe(DAGS * 10);
    expect(page.rows.every((run) => run.runAfter >= since)).toBe(true);
    const ids = page.rows.map((run) => run.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const plan = await planOfLast('FROM dag_run r');
    expect(plan).toContain('dag_run_run_after_idx');
    expect(plan).not.toContain('dag_run_pkey');
  });

  it('read the events after a recent time off the dttm index in id order, not by walking every id', async () => {
    const after = new Date(Date.parse('2026-01-01') + (EVENTS - 2_000) * 60_000);
    const page = await queries.listEventLogs({ ...firstPage, after, orderBy: [] });
    expect(page.total).toBe(2_000);
    expect(page.rows[0]!.when).toEqual(new Date(after.getTime() + 60_000));
    const plan = await planOfLast('FROM log l');
    expect(plan).toContain('log_dttm_idx');
    expect(plan).not.toContain('log_pkey');
  });

  it('read the newest events backwards off the dttm index, sorting none', async () => {
    const page = await queries.listEventLogs({
      ...firstPage,
      orderBy: [{ column: 'dttm', descending: true }],
    });
    expect(page.rows[0]!.when).toEqual(new Date(Date.parse('2026-01-01') + EVENTS * 60_000));
    const plan = await planOfLast('FROM log l');
    expect(plan).toContain('Index Scan Backward using log_dttm_idx');
    expect(plan).not.toMatch(/Sort Key: l\.dttm/);
  });

  it('read the task instances of every run most recently started first off the start_date index', async () => {
    // The default order of Airflow's UI: -start_date, -run_after.
    const page = await queries.listTaskInstancesAcross({
      ...firstPage,
      orderBy: [
        { column: 'start_date', descending: true },
        { column: 'run_after', descending: true },
      ],
    });
    expect(page.total).toBe(DAGS * RUNS_PER_DAG);
    expect(page.rows[0]!.startDate).not.toBeNull();
    const plan = await planOfLast('FROM task_instance ti');
    expect(plan).toContain('Index Scan using task_instance_start_date_desc_idx');
  });

  it("find each DAG's latest run through the (dag_id, run_after) index", async () => {
    await queries.listDags({
      ...firstPage,
      excludeStale: true,
      orderBy: [{ column: 'last_run_start_date', descending: true }],
    });
    const plan = await planOfLast('FROM dag d');
    expect(plan).toContain('dag_run_dag_id_run_after_idx');
  });

  it('count runs per DAG and state before spreading them over DAGs and states', async () => {
    const stats = await queries.dagRunStats(undefined);
    expect(stats).toHaveLength(DAGS);
    expect(stats[0]!.counts).toContainEqual({ state: 'success', count: RUNS_PER_DAG });
    // Grouped by (dag_id, state) alone, which the index of those columns answers without the
    // table (a million runs: 86 ms; joined to every DAG and state first, 1.2 s).
    const plan = await planOfLast('FROM dag d', false);
    expect(plan).toContain('Group Key: r.dag_id, r.state');
  });

  it('say the total of a page of limit 0, which has no rows to count by', async () => {
    const page = await queries.listDagRuns({ limit: 0, offset: 0, dagId: 'dag_1', orderBy: [] });
    expect(page).toEqual({ rows: [], total: RUNS_PER_DAG });
  });

  it("take a last page's total from the page, sending no count", async () => {
    const before = recording.statements.length;
    const page = await queries.listDagRuns({ limit: 50, offset: 80, dagId: 'dag_1', orderBy: [] });
    expect(page.rows).toHaveLength(20);
    expect(page.total).toBe(RUNS_PER_DAG);
    expect(recording.statements.slice(before).filter((s) => s.includes('count('))).toEqual([]);
  });
});

describe('sort keys named NOT NULL', () => {
  // orderBySql leaves NULLS LAST out for them: a column that could be null would sort its nulls
  // first in a descending listing, against Airflow's order.
  const TABLES: Record<string, string> = {
    r: 'dag_run',
    ti: 'task_instance',
    l: 'log',
    v: 'dag_version',
  };
  it.each([
    ['dag runs', RUN_SORT_COLUMNS, RUN_NOT_NULL],
    ['task instances', TASK_INSTANCE_SORT_COLUMNS, TASK_INSTANCE_NOT_NULL],
    ['event logs', EVENT_LOG_SORT_COLUMNS, EVENT_LOG_NOT_NULL],
    ['DAG versions', VERSION_SORT_COLUMNS, VERSION_NOT_NULL],
  ] as const)('are NOT NULL columns in the schema: %s', async (_, columns, notNull) => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT table_name || '.' || column_name AS name FROM information_schema.columns
       WHERE table_schema = 'public' AND is_nullable = 'NO'`,
    );
    const notNullColumns = new Set(rows.map((row) => row.name));
    const named = [...(notNull as ReadonlySet<string>)].map((key) => {
      const [alias, column] = (columns as Record<string, string>)[key]!.split('.');
      return `${TABLES[alias!]}.${column}`;
    });
    expect(named.filter((name) => !notNullColumns.has(name))).toEqual([]);
  });
});
