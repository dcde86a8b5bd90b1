import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@dagbag/logger';
import { createTestDatabase, startPgBouncer, type TestDatabase } from '../testing/index.ts';
import { NOTIFICATION_CHANNELS, type NotificationChannel } from './channels.ts';
import { Notifier, type NotifierEvent } from './notifier.ts';

let db: TestDatabase;
let sql: pg.Client;
let versionId: string;
let runPk: number;
const notifiers: Notifier[] = [];

async function listen(): Promise<{ notifier: Notifier; events: NotifierEvent[] }> {
  const notifier = new Notifier({ url: db.url, backoffInitialMs: 20, backoffMaxMs: 200 });
  notifiers.push(notifier);
  const events: NotifierEvent[] = [];
  notifier.subscribe((event) => events.push(event));
  await notifier.start().listening();
  return { notifier, events };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function received(events: NotifierEvent[], channel?: NotificationChannel) {
  return events.flatMap((event) =>
    event.type === 'notification' && (channel === undefined || event.channel === channel)
      ? [{ channel: event.channel, id: event.id }]
      : [],
  );
}

/** Waits for a marker notification sent after `work`: everything `work` sent arrived before it. */
async function settle(events: NotifierEvent[]): Promise<void> {
  const { rows } = await sql.query<{ id: string }>(
    `INSERT INTO dag (dag_id) VALUES ('marker_' || gen_random_uuid()) RETURNING dag_id AS id`,
  );
  const marker = rows[0]!.id;
  // The insert also sends dagbag_listing, after dagbag_dag (triggers fire in name order).
  await until(() => {
    const all = received(events);
    const at = all.findIndex((n) => n.channel === 'dagbag_dag' && n.id === marker);
    return at >= 0 && all.slice(at).some((n) => n.channel === 'dagbag_listing');
  });
  events.length = 0;
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  await sql.query(`INSERT INTO dag (dag_id) VALUES ('etl')`);
  versionId = (
    await sql.query<{ id: string }>(
      `INSERT INTO dag_version (dag_id, version_number) VALUES ('etl', 1) RETURNING id::text`,
    )
  ).rows[0]!.id;
  await sql.query(
    `INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash) VALUES ($1, 'etl', '{}', 'h1')`,
    [versionId],
  );
  runPk = (
    await sql.query<{ id: number }>(
      `INSERT INTO dag_run (dag_id, run_id, state, run_type, created_dag_version_id)
       VALUES ('etl', 'r1', 'running', 'manual', $1) RETURNING id`,
      [versionId],
    )
  ).rows[0]!.id;
  await sql.query(
    `INSERT INTO task_instance (dag_id, run_id, task_id, dag_version_id, state)
     SELECT 'etl', 'r1', 't' || i, $1, 'running' FROM generate_series(1, 3) i`,
    [versionId],
  );
});

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((notifier) => notifier.close()));
});

afterAll(async () => {
  await sql.end();
  await db.drop();
});

describe('the notifier', () => {
  it('listens on every dagbag_ channel', () => {
    expect(NOTIFICATION_CHANNELS.every((channel) => channel.startsWith('dagbag_'))).toBe(true);
  });

  it('receives a new run, an in-place version update and a finished task, each naming its id', async () => {
    const { events } = await listen();
    await settle(events);
    const created = await sql.query<{ id: number }>(
      `INSERT INTO dag_run (dag_id, run_id, state, run_type) VALUES ('etl', 'r2', 'queued', 'manual') RETURNING id`,
    );
    await sql.query(`UPDATE serialized_dag SET dag_hash = 'h2' WHERE dag_version_id = $1`, [
      versionId,
    ]);
    await sql.query(
      `UPDATE task_instance SET state = 'success' WHERE run_id = 'r1' AND task_id = 't1'`,
    );
    await sql.query(`UPDATE dag SET is_paused = true WHERE dag_id = 'etl'`);
    await until(() => received(events).length >= 5);
    expect(received(events)).toEqual([
      { channel: 'dagbag_run', id: String(created.rows[0]!.id) },
      { channel: 'dagbag_version', id: versionId },
      { channel: 'dagbag_task', id: String(runPk) },
      { channel: 'dagbag_dag', id: 'etl' },
      { channel: 'dagbag_listing', id: 'dag' },
    ]);
  });

  it("sends nothing for the scheduler's own steps (queued -> running, a run starting) or a rollback", async () => {
    const { events } = await listen();
    await sql.query(
      `UPDATE task_instance SET state = 'queued' WHERE run_id = 'r1' AND task_id = 't1'`,
    );
    await settle(events);
    await sql.query(
      `UPDATE task_instance SET state = 'running' WHERE run_id = 'r1' AND task_id = 't1'`,
    );
    await sql.query(`UPDATE dag_run SET state = 'running' WHERE id = $1`, [runPk]);
    await sql.query('BEGIN');
    await sql.query(
      `UPDATE serialized_dag SET dag_hash = 'rolled back' WHERE dag_version_id = $1`,
      [versionId],
    );
    await sql.query('ROLLBACK');
    await settle(events);
    expect(received(events)).toEqual([]);
  });

  it('measures the lag from commit to receipt', async () => {
    const lags: number[] = [];
    const notifier = new Notifier({ url: db.url });
    notifiers.push(notifier);
    notifier.subscribe((event) => {
      if (event.type === 'notification') lags.push(Date.now() - event.committedAtMs);
    });
    await notifier.start().listening();
    await sql.query(`UPDATE dag SET is_paused = NOT is_paused WHERE dag_id = 'etl'`);
    await until(() => lags.length >= 1);
    expect(lags[0]).toBeGreaterThanOrEqual(-5);
    expect(lags[0]).toBeLessThan(1_000);
  });

  it('after pg_terminate_backend it reconnects, reports one resync, and receives again', async () => {
    const { notifier, events } = await listen();
    const pid = notifier.backendPid;
    expect(pid).not.toBeNull();
    await sql.query('SELECT pg_terminate_backend($1)', [pid]);
    await until(() => events.some((event) => event.type === 'listening' && event.resync));
    expect(
      events.flatMap((event) =>
        event.type === 'listening'
          ? [`listening resync=${event.resync}`]
          : event.type === 'lost'
            ? ['lost']
            : [],
      ),
    ).toEqual(['listening resync=false', 'lost', 'listening resync=true']);
    expect(notifier.backendPid).not.toBe(pid);
    expect(notifier.stats()).toMatchObject({ listening: true, resyncs: 1, gaps: 1 });
    await settle(events);
  });

  it('coalesces one transaction into one notification per id', async () => {
    const { events } = await listen();
    await settle(events);
    await sql.query('BEGIN');
    await sql.query(
      `UPDATE task_instance SET state = 'success' WHERE run_id = 'r1' AND task_id = 't2'`,
    );
    await sql.query(
      `UPDATE task_instance SET state = 'failed' WHERE run_id = 'r1' AND task_id = 't3'`,
    );
    await sql.query(`UPDATE serialized_dag SET dag_hash = 'h3' WHERE dag_version_id = $1`, [
      versionId,
    ]);
    await sql.query(`UPDATE serialized_dag SET dag_hash = 'h4' WHERE dag_version_id = $1`, [
      versionId,
    ]);
    await sql.query('COMMIT');
    await until(() => received(events).length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received(events)).toEqual([
      { channel: 'dagbag_task', id: String(runPk) },
      { channel: 'dagbag_version', id: versionId },
    ]);
  });

  it('announces on dagbag_listing every change GET /dags shows, one per table and transaction', async () => {
    const { events } = await listen();
    await settle(events);
    await sql.query(`INSERT INTO dag (dag_id) SELECT 'listed_' || i FROM generate_series(1, 3) i`);
    await sql.query('BEGIN');
    await sql.query(`UPDATE dag SET description = 'new words' WHERE dag_id LIKE 'listed_%'`);
    await sql.query(`UPDATE dag SET last_parsed_time = now(), tags = '{t}' WHERE dag_id = 'etl'`);
    await sql.query(`UPDATE dag SET next_dagrun_create_after = now() WHERE dag_id = 'listed_1'`);
    await sql.query('COMMIT');
    // An update that changes nothing sends nothing.
    await sql.query(`UPDATE dag SET description = description WHERE dag_id LIKE 'listed_%'`);
    await sql.query(`INSERT INTO import_error (filename, stacktrace) VALUES ('/dags/x.json', 'e')`);
    await sql.query(`UPDATE import_error SET stacktrace = 'e2' WHERE filename = '/dags/x.json'`);
    await sql.query(`DELETE FROM import_error WHERE filename = '/dags/x.json'`);
    await sql.query(`DELETE FROM dag WHERE dag_id LIKE 'listed_%'`);
    // A last insert: everything before it has arrived once its notification has.
    await sql.query(`INSERT INTO dag (dag_id) VALUES ('listing_marker')`);
    await until(() => received(events, 'dagbag_dag').some((n) => n.id === 'listing_marker'));
    await until(() => received(events, 'dagbag_listing').length >= 7);
    const dag = { channel: 'dagbag_listing', id: 'dag' };
    const importError = { channel: 'dagbag_listing', id: 'import_error' };
    expect(received(events, 'dagbag_listing')).toEqual([
      dag, // the insert of three rows
      dag, // the transaction of three updates
      importError,
      importError,
      importError,
      dag, // the delete
      dag, // the marker
    ]);
  });

  it('behind a pooler in transaction mode it says notifications do not arrive, and is not listening', async () => {
    const bouncer = await startPgBouncer(db.url, { poolSize: 2 });
    const errors: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const entry = JSON.parse(line) as { level: number; msg: string };
          if (entry.level >= 50) errors.push(entry.msg);
        }
        done();
      },
    });
    const notifier = new Notifier({
      url: bouncer.url,
      logger: createLogger({ name: 'notifier', level: 'info', destination: sink }),
      connectTimeoutMs: 1_000,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
    });
    notifiers.push(notifier);
    try {
      notifier.start();
      // Through PgBouncer LISTEN "works" and the pings answer: it used to count as listening.
      await until(() => notifier.isListening || errors.length > 0, 10_000);
      expect(notifier.isListening).toBe(false);
      expect(errors).toEqual([
        expect.stringContaining('database notifications do not arrive on this connection'),
      ]);
    } finally {
      await notifier.close();
      bouncer.stop();
    }
  });
});
