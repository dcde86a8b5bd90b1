/**
 * The load: a 10-task DAG whose bash tasks append a marker line `dag run task try epoch-ms` to a
 * file, runs triggered through the APIs with a fixed dag_run_id (a retry answered 409 was stored),
 * and the counting of markers against task instances.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { client } from './cluster.ts';

export const TASK_COUNT = 10;

/** `t0 -> t1..t8 -> t9`; `variant` changes the commands (a new version) but not the markers. */
export function markerDag(
  dagId: string,
  markerFile: string,
  options: { variant?: number; sleepSeconds?: number; retries?: number } = {},
) {
  const variant = options.variant ?? 1;
  const pause = options.sleepSeconds ? `sleep ${options.sleepSeconds}; ` : '';
  const marker = `${pause}: variant ${variant}; echo "$AIRFLOW_CTX_DAG_ID $AIRFLOW_CTX_DAG_RUN_ID $AIRFLOW_CTX_TASK_ID $AIRFLOW_CTX_TRY_NUMBER $(date +%s%3N)" >> ${markerFile}`;
  const middle = Array.from({ length: TASK_COUNT - 2 }, (_, i) => `t${i + 1}`);
  return {
    dag_id: dagId,
    description: `reliability load, variant ${variant}`,
    schedule: null,
    max_active_runs: 64,
    tags: ['reliability', `v${variant}`],
    tasks: [
      {
        task_id: 't0',
        operator: 'bash',
        bash_command: marker,
        retries: options.retries ?? 2,
        retry_delay_seconds: 0,
      },
      ...middle.map((id) => ({
        task_id: id,
        operator: 'bash',
        bash_command: marker,
        upstream: ['t0'],
        retries: options.retries ?? 2,
        retry_delay_seconds: 0,
      })),
      {
        task_id: `t${TASK_COUNT - 1}`,
        operator: 'bash',
        bash_command: marker,
        upstream: middle,
        retries: options.retries ?? 2,
        retry_delay_seconds: 0,
      },
    ],
  };
}

export async function writeMarkerDag(
  dagsFolder: string,
  dagId: string,
  markerFile: string,
  options: Parameters<typeof markerDag>[2] = {},
): Promise<void> {
  await writeFile(
    join(dagsFolder, `${dagId}.json`),
    JSON.stringify(markerDag(dagId, markerFile, options), null, 2),
  );
}

export interface Markers {
  /** `run task` -> the tries that wrote a marker and when (epoch ms), in file order. */
  byInstance: Map<string, { tryNumber: number; at: number }[]>;
  lines: number;
}

export function readMarkers(markerFile: string, dagId: string): Markers {
  let text = '';
  try {
    text = readFileSync(markerFile, 'utf8');
  } catch {
    // no task has run yet
  }
  const byInstance: Markers['byInstance'] = new Map();
  let lines = 0;
  for (const line of text.split('\n')) {
    const [dag, run, task, tryNumber, at] = line.split(' ');
    if (dag !== dagId || !run || !task) continue;
    lines++;
    const key = `${run} ${task}`;
    byInstance.set(key, [
      ...(byInstance.get(key) ?? []),
      { tryNumber: Number(tryNumber), at: Number(at) },
    ]);
  }
  return { byInstance, lines };
}

/**
 * Triggers one run with a fixed id, trying the APIs in turn until one answers 200 (created) or 409
 * (a previous attempt was stored). Network errors and 5xx move on to the next API.
 */
export async function triggerWithFailover(
  apis: { url: string }[],
  token: string,
  dagId: string,
  runId: string,
  start: number,
  attempts = { retries: 0 },
): Promise<'created' | 'conflict'> {
  const deadline = Date.now() + 120_000;
  for (let i = start; ; i++) {
    const api = apis[i % apis.length]!;
    try {
      const response = await client(api.url, token)(
        `/api/v2/dags/${encodeURIComponent(dagId)}/dagRuns`,
        {
          method: 'POST',
          json: { dag_run_id: runId, logical_date: null, conf: { n: runId } },
          timeoutMs: 10_000,
        },
      );
      if (response.status === 200) return 'created';
      if (response.status === 409) return 'conflict';
      if (response.status < 500 && response.status !== 404)
        throw new Error(`trigger ${runId}: ${response.status} ${JSON.stringify(response.body)}`);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('trigger ')) throw error;
    }
    attempts.retries++;
    if (Date.now() > deadline) throw new Error(`trigger ${runId}: no API stored it within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface RunRow {
  run_id: string;
  state: string;
  queued_at: Date | null;
  start_date: Date | null;
  end_date: Date | null;
}

export interface InstanceRow {
  run_id: string;
  task_id: string;
  state: string | null;
  try_number: number;
  queued_by_job_id: number | null;
}

export async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return (await db.query(sql, params)).rows as T[];
  } finally {
    await db.end();
  }
}

export const runsOf = (url: string, dagId: string) =>
  query<RunRow>(
    url,
    'SELECT run_id, state, queued_at, start_date, end_date FROM dag_run WHERE dag_id = $1',
    [dagId],
  );

export const instancesOf = (url: string, dagId: string) =>
  query<InstanceRow>(
    url,
    'SELECT run_id, task_id, state, try_number, queued_by_job_id FROM task_instance WHERE dag_id = $1',
    [dagId],
  );

export interface Audit {
  runs: number;
  terminalRuns: number;
  successRuns: number;
  instances: number;
  /** Task instances of the expected runs with no marker of their final try. */
  lost: number;
  /**
   * Markers beyond one per task instance try, plus task instances with markers of two tries that
   * both finished.
   */
  duplicated: number;
  /**
   * Tries that wrote their marker and were then retried (the scheduler running them was killed).
   */
  retriedAfterMarker: number;
  /**
   * Of those, markers written more than KILL_SLACK_MS after `killedAt`: a try that outlived its
   * scheduler.
   */
  writtenAfterKill: number;
  /** Longest queued_at -> end_date, seconds. */
  maxRunSeconds: number;
}

/**
 * Between a scheduler's death and its watchdogs killing the task groups some time passes: the
 * kernel closes the pipes at once, but each watchdog must be scheduled to read the end-of-file,
 * and on a loaded 2-core CI machine that took more than 100 ms. A try that was already echoing its
 * marker may still write it then. A try the watchdog missed runs on to the end of its sleep (a
 * second); the watchdogs of one scheduler all fail or none do, so with several tries in flight at
 * random points of their sleep, at least one of them lands beyond this slack.
 */
const KILL_SLACK_MS = 500;

/** Compares what the database says happened with what the tasks wrote. */
export async function audit(
  url: string,
  dagId: string,
  markerFile: string,
  expectedRunIds: string[],
  killedAt = Number.POSITIVE_INFINITY,
): Promise<Audit> {
  const runs = await runsOf(url, dagId);
  const instances = await instancesOf(url, dagId);
  const markers = readMarkers(markerFile, dagId);
  const expected = new Set(expectedRunIds);
  let lost =
    expectedRunIds.filter((id) => !runs.some((run) => run.run_id === id)).length * TASK_COUNT;
  let duplicated = 0;
  let retriedAfterMarker = 0;
  let writtenAfterKill = 0;
  for (const ti of instances) {
    if (!expected.has(ti.run_id)) continue;
    const markersOf = markers.byInstance.get(`${ti.run_id} ${ti.task_id}`) ?? [];
    const final = markersOf.filter((m) => m.tryNumber === ti.try_number).length;
    if (final === 0) lost++;
    if (final > 1) duplicated += final - 1;
    const earlierMarkers = markersOf.filter((m) => m.tryNumber !== ti.try_number);
    const earlier = earlierMarkers.map((m) => m.tryNumber);
    // An earlier try's marker is only legitimate if that try was interrupted (its retry counted).
    retriedAfterMarker += earlier.length;
    writtenAfterKill += earlierMarkers.filter((m) => m.at > killedAt + KILL_SLACK_MS).length;
    if (new Set(earlier).size !== earlier.length)
      duplicated += earlier.length - new Set(earlier).size;
  }
  const terminal = runs.filter((run) => run.state === 'success' || run.state === 'failed');
  const maxRunSeconds = Math.max(
    0,
    ...terminal.map(
      (run) =>
        ((run.end_date?.getTime() ?? Date.now()) -
          (run.queued_at?.getTime() ?? run.start_date?.getTime() ?? 0)) /
        1000,
    ),
  );
  return {
    runs: runs.length,
    terminalRuns: terminal.length,
    successRuns: runs.filter((run) => run.state === 'success').length,
    instances: instances.length,
    lost,
    duplicated,
    retriedAfterMarker,
    writtenAfterKill,
    maxRunSeconds,
  };
}
