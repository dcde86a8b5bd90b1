/**
 * Database rows and cached DAGs -> Airflow's response shapes. Every field Airflow defines is
 * present; what this system does not have (bundle versions, pools, triggers, owners...) is null or
 * the neutral value Airflow itself reports for a DAG that does not use the feature. Every DAG is
 * of the DAGs folder's bundle (DAGS_FOLDER_BUNDLE), as Airflow 3 names it.
 */
import { hash } from 'node:crypto';
import {
  DAGS_FOLDER_BUNDLE,
  type Dag,
  type DagVersionEntry,
  type RenderedEntry,
  type Task,
} from '@dagbag/dagbag';
import type {
  DagRow,
  DagRunRow,
  DagVersionSummary,
  DagStatsRow,
  LatestVersionDetails,
  DagWarningRow,
  EventLogRow,
  ImportErrorRow,
  TaskInstanceRow,
} from '@dagbag/db';

const iso = (date: Date | null | undefined): string | null => (date ? date.toISOString() : null);

/** Airflow's class names for our two operators; the TaskInstance `operator` column holds ours. */
const OPERATOR_CLASS: Record<
  string,
  { className: string; modulePath: string; templateFields: string[] }
> = {
  bash: {
    className: 'BashOperator',
    modulePath: 'airflow.providers.standard.operators.bash',
    templateFields: ['bash_command', 'env', 'cwd'],
  },
  empty: {
    className: 'EmptyOperator',
    modulePath: 'airflow.providers.standard.operators.empty',
    templateFields: [],
  },
};

export function operatorClassName(operator: string | null): string | null {
  if (operator === null) return null;
  return OPERATOR_CLASS[operator]?.className ?? operator;
}

/** Airflow's file_token is an opaque, URL-safe handle on the file; ours is its base64url. */
function fileToken(dag: DagRow): string {
  return Buffer.from(dag.fileloc ?? dag.dagId, 'utf8').toString('base64url');
}

/** The file a `file_token` stands for, or undefined when it is not one of ours. */
export function decodeFileToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const fileloc = Buffer.from(token, 'base64url').toString('utf8');
  return fileloc.length > 0 && !fileloc.includes('\uFFFD') && !fileloc.includes('\u0000')
    ? fileloc
    : undefined;
}

export function dagVersionResponse(version: DagVersionSummary) {
  return {
    id: version.id,
    version_number: version.versionNumber,
    dag_id: version.dagId,
    bundle_name: DAGS_FOLDER_BUNDLE,
    bundle_version: null,
    created_at: version.createdAt.toISOString(),
    dag_display_name: version.dagId,
    bundle_url: null,
  };
}

export function dagResponse(dag: DagRow) {
  return {
    dag_id: dag.dagId,
    dag_display_name: dag.dagId,
    is_paused: dag.isPaused,
    is_stale: dag.isStale,
    last_parsed_time: iso(dag.lastParsedTime),
    last_expired: null,
    bundle_name: DAGS_FOLDER_BUNDLE,
    bundle_version: null,
    relative_fileloc: dag.relativeFileloc,
    fileloc: dag.fileloc ?? '',
    description: dag.description,
    timetable_summary: dag.timetableSummary,
    timetable_description: null,
    tags: dag.tags.map((name) => ({ name, dag_id: dag.dagId, dag_display_name: dag.dagId })),
    max_active_tasks: dag.maxActiveTasks,
    max_active_runs: dag.maxActiveRuns,
    max_consecutive_failed_dag_runs: 0,
    has_task_concurrency_limits: false,
    has_import_errors: dag.hasImportErrors,
    next_dagrun_logical_date: iso(dag.nextDagrunLogicalDate),
    next_dagrun_data_interval_start: iso(dag.nextDagrunDataIntervalStart),
    next_dagrun_data_interval_end: iso(dag.nextDagrunDataIntervalEnd),
    next_dagrun_run_after: iso(dag.nextDagrunCreateAfter),
    owners: [],
    file_token: fileToken(dag),
  };
}

/** A DAG's details: its row, and what only its latest version's document says. */
export function dagDetailsResponse(dag: DagRow, latest: LatestVersionDetails | null) {
  return {
    ...dagResponse(dag),
    catchup: dag.catchup,
    dag_run_timeout: null,
    asset_expression: null,
    doc_md: null,
    start_date: iso(dag.startDate),
    end_date: null,
    is_paused_upon_creation: latest?.isPausedUponCreation ?? null,
    params: {},
    render_template_as_native_obj: false,
    template_search_path: null,
    // Airflow names the schedule's time zone (an IANA name, or a fixed offset), UTC by default.
    timezone: dag.timezone ?? 'UTC',
    last_parsed: iso(dag.lastParsedTime),
    default_args: null,
    owner_links: null,
    concurrency: dag.maxActiveTasks,
    latest_dag_version: latest ? dagVersionResponse(latest) : null,
  };
}

function timeDelta(seconds: number | undefined) {
  if (seconds === undefined) return null;
  return {
    __type: 'TimeDelta',
    days: Math.floor(seconds / 86_400),
    seconds: seconds % 86_400,
    microseconds: 0,
  };
}

/** Every task instance here runs in Airflow's default pool and queue, on no named executor. */
export const TASK_POOL = 'default_pool';
export const TASK_QUEUE = 'default';

export function taskResponse(dag: Dag, task: Task) {
  const operator = OPERATOR_CLASS[task.operator];
  return {
    task_id: task.taskId,
    task_display_name: task.taskId,
    owner: null,
    start_date: dag.document.start_date ? new Date(dag.document.start_date).toISOString() : null,
    end_date: null,
    trigger_rule: task.triggerRule,
    depends_on_past: false,
    wait_for_downstream: false,
    retries: task.retries,
    queue: TASK_QUEUE,
    pool: TASK_POOL,
    pool_slots: 1,
    execution_timeout: timeDelta(task.executionTimeoutSeconds),
    retry_delay: timeDelta(task.retryDelaySeconds),
    retry_exponential_backoff: false,
    priority_weight: 1,
    weight_rule: 'downstream',
    ui_color: null,
    ui_fgcolor: null,
    template_fields: operator?.templateFields ?? [],
    downstream_task_ids: [...task.downstream],
    doc_md: null,
    operator_name: operator?.className ?? task.operator,
    params: {},
    class_ref: operator
      ? { module_path: operator.modulePath, class_name: operator.className }
      : null,
    is_mapped: false,
    extra_links: [],
  };
}

/**
 * Airflow's DagRunTriggeredByType; our scheduler records its runs as `scheduler`, Airflow's
 * `timetable`.
 */
const TRIGGERED_BY = new Set([
  'cli',
  'operator',
  'rest_api',
  'ui',
  'test',
  'timetable',
  'asset',
  'backfill',
]);
const TRIGGERED_BY_ALIASES: Record<string, string> = {
  scheduler: 'timetable',
  scheduled: 'timetable',
};

function airflowTriggeredBy(value: string | null): string | null {
  if (value === null) return null;
  const mapped = TRIGGERED_BY_ALIASES[value] ?? value;
  return TRIGGERED_BY.has(mapped) ? mapped : null;
}

export function dagRunResponse(run: DagRunRow) {
  const duration =
    run.startDate && run.endDate ? (run.endDate.getTime() - run.startDate.getTime()) / 1000 : null;
  return {
    dag_run_id: run.runId,
    dag_id: run.dagId,
    logical_date: iso(run.logicalDate),
    queued_at: iso(run.queuedAt),
    start_date: iso(run.startDate),
    end_date: iso(run.endDate),
    duration,
    data_interval_start: iso(run.dataIntervalStart),
    data_interval_end: iso(run.dataIntervalEnd),
    run_after: run.runAfter.toISOString(),
    last_scheduling_decision: iso(run.lastSchedulingDecision),
    run_type: run.runType,
    state: run.state,
    triggered_by: airflowTriggeredBy(run.triggeredBy),
    triggering_user_name: run.triggeringUserName,
    conf: run.conf,
    note: run.note,
    dag_versions: run.dagVersions.map(dagVersionResponse),
    bundle_version: null,
    dag_display_name: run.dagId,
  };
}

export function taskInstanceResponse(ti: TaskInstanceRow) {
  const operator = operatorClassName(ti.operator);
  return {
    id: ti.id,
    task_id: ti.taskId,
    dag_id: ti.dagId,
    dag_run_id: ti.runId,
    map_index: ti.mapIndex,
    logical_date: iso(ti.logicalDate),
    run_after: ti.runAfter.toISOString(),
    start_date: iso(ti.startDate),
    end_date: iso(ti.endDate),
    duration: ti.duration,
    state: ti.state,
    try_number: ti.tryNumber,
    max_tries: ti.maxTries,
    task_display_name: ti.taskId,
    dag_display_name: ti.dagId,
    hostname: ti.hostname,
    unixname: null,
    pool: TASK_POOL,
    pool_slots: 1,
    queue: TASK_QUEUE,
    priority_weight: 1,
    operator,
    operator_name: operator,
    queued_when: iso(ti.queuedDttm),
    scheduled_when: iso(ti.scheduledDttm),
    pid: ti.pid,
    executor: null,
    executor_config: '{}',
    note: ti.note,
    rendered_map_index: null,
    rendered_fields: {},
    trigger: null,
    triggerer_job: null,
    dag_version: ti.dagVersion ? dagVersionResponse(ti.dagVersion) : null,
  };
}

/** One try of a task instance (Airflow's TaskInstanceHistoryResponse). */
export function taskInstanceHistoryResponse(ti: TaskInstanceRow) {
  const r = taskInstanceResponse(ti);
  return {
    task_id: r.task_id,
    dag_id: r.dag_id,
    dag_run_id: r.dag_run_id,
    map_index: r.map_index,
    start_date: r.start_date,
    end_date: r.end_date,
    duration: r.duration,
    state: r.state,
    try_number: r.try_number,
    max_tries: r.max_tries,
    task_display_name: r.task_display_name,
    dag_display_name: r.dag_display_name,
    hostname: r.hostname,
    unixname: r.unixname,
    pool: r.pool,
    pool_slots: r.pool_slots,
    queue: r.queue,
    priority_weight: r.priority_weight,
    operator: r.operator,
    operator_name: r.operator_name,
    queued_when: r.queued_when,
    scheduled_when: r.scheduled_when,
    pid: r.pid,
    executor: r.executor,
    executor_config: r.executor_config,
    dag_version: r.dag_version,
  };
}

export function importErrorResponse(error: ImportErrorRow) {
  return {
    import_error_id: error.id,
    timestamp: error.timestamp.toISOString(),
    filename: error.filename,
    bundle_name: error.bundleName,
    stack_trace: error.stackTrace,
  };
}

/**
 * The structure answer's JSON text: `{dag_id, version_number, dag_version_id, dag_hash, nodes,
 * edges}` (the `DagStructureResponse` schema), nodes in topological order, edges in topological
 * order of their targets. Written directly rather than built as objects and stringified: a miss
 * renders it for every version it loads (structure-json.test.ts holds it to the same bytes as
 * `JSON.stringify` of the objects). Task ids, operators and trigger rules need no escaping (the
 * document's validation allows them only letters, digits, `_`, `.` and `-`); the row's own
 * strings are escaped.
 */
export function structureJson(entry: DagVersionEntry): string {
  const { dag } = entry;
  let nodes = '';
  let edges = '';
  for (const taskId of dag.topologicalOrder) {
    const task = dag.tasks.get(taskId)!;
    if (nodes !== '') nodes += ',';
    nodes += `{"id":"${taskId}","label":"${taskId}","type":"task","operator":"${task.operator}","trigger_rule":"${task.triggerRule}","retries":${task.retries}}`;
    for (const upstreamId of task.upstream) {
      if (edges !== '') edges += ',';
      edges += `{"source_id":"${upstreamId}","target_id":"${taskId}"}`;
    }
  }
  return `{"dag_id":${JSON.stringify(entry.dagId)},"version_number":${entry.versionNumber},"dag_version_id":${JSON.stringify(entry.versionId)},"dag_hash":${JSON.stringify(entry.dagHash)},"nodes":[${nodes}],"edges":[${edges}]}`;
}

const utf8 = new TextEncoder();

/**
 * A value as JSON bytes in a buffer of exactly their size, for answers a cache keeps: a
 * `Buffer.from(json)` of less than 32 KiB is a slice of Node's shared 64 KiB pool and would keep
 * the whole slab alive for as long as the cache keeps the answer (see the DagBag's entry.ts).
 */
export function jsonBytes(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

/**
 * The structure answer as it is sent: JSON bytes and a strong ETag (a content hash), made once per
 * cached version (`DagBagOptions.render`): a version is immutable while it is resident (a version
 * changed in place is a new entry), so the bytes are too, and they count in the entry's weight.
 */
export function renderStructure(entry: DagVersionEntry): RenderedEntry {
  const bytes = utf8.encode(structureJson(entry));
  return { bytes, etag: `"${hash('sha256', bytes, 'base64url')}"` };
}

export function eventLogResponse(row: EventLogRow) {
  return {
    event_log_id: row.id,
    when: row.when.toISOString(),
    dag_id: row.dagId,
    task_id: row.taskId,
    run_id: row.runId,
    map_index: row.mapIndex,
    try_number: row.tryNumber,
    event: row.event,
    logical_date: iso(row.logicalDate),
    owner: row.owner,
    extra: row.extra,
    dag_display_name: row.dagId,
  };
}

export function dagStatsResponse(row: DagStatsRow) {
  return { dag_id: row.dagId, dag_display_name: row.dagId, stats: row.counts };
}

export function dagWarningResponse(row: DagWarningRow) {
  return {
    dag_id: row.dagId,
    warning_type: row.warningType,
    message: row.message,
    timestamp: row.timestamp.toISOString(),
    dag_display_name: row.dagId,
  };
}
