/**
 * What each field of a DAG file means, its default and what it accepts: the README's "DAG files"
 * tables are generated from these (`pnpm docs:generate`). Keyed by the document's own types, so a
 * field added to the schema without a line here does not compile.
 */
import {
  DEFAULT_MAX_ACTIVE_TASKS,
  DEFAULTS,
  LIMITS,
  MAX_IDENTIFIER_LENGTH,
  MAX_TASKS,
  OPERATORS,
  SCHEDULE_PRESETS,
  TRIGGER_RULES,
  type DagDocumentInput,
  type TaskDocument,
} from './document.ts';

export interface FieldDoc {
  /** `required`, the default written out, or how its absence reads. */
  default: string;
  accepted: string;
  meaning: string;
}

const ID = `letters, digits, \`_\`, \`.\`, \`-\`; 1–${MAX_IDENTIFIER_LENGTH} characters`;
const list = (values: readonly string[]) => values.map((value) => `\`${value}\``).join(', ');

export const DAG_FIELD_DOCS: Record<keyof DagDocumentInput, FieldDoc> = {
  dag_id: {
    default: 'required',
    accepted: ID,
    meaning:
      'the DAG\'s id, one per file; a second file with the same dag_id is an import error ("already defined in")',
  },
  description: {
    default: '(none)',
    accepted: `text, up to ${LIMITS.descriptionLength} characters`,
    meaning: 'shown by the API (`description`) and `dagbag dags show`',
  },
  schedule: {
    default: 'null',
    accepted: `null, a 5-field cron expression, ${list(SCHEDULE_PRESETS)}`,
    meaning:
      "when runs are created: null = only triggered runs. As in Airflow, a run covers an interval and is created once it has ended: `@daily`'s run of 2026-01-01 (its logical date) starts at 2026-01-02T00:00",
  },
  start_date: {
    default: '(none; required with a schedule)',
    accepted: 'an ISO 8601 date-time with its offset, e.g. `2026-01-01T00:00:00Z`',
    meaning: 'the first interval starts here; no scheduled run covers time before it',
  },
  timezone: {
    default: "start_date's offset, else UTC",
    accepted: 'an IANA time zone name, e.g. `Europe/Amsterdam`',
    meaning: 'the time zone the cron expression is read in (daylight saving time included)',
  },
  max_active_runs: {
    default: String(DEFAULTS.max_active_runs),
    accepted: `1–${LIMITS.maxActiveRuns}`,
    meaning: 'runs of this DAG running at once; further runs wait, queued',
  },
  max_active_tasks: {
    default: String(DEFAULT_MAX_ACTIVE_TASKS),
    accepted: `1–${LIMITS.maxActiveTasks}`,
    meaning:
      "task instances of one run queued or running at once (per run, as Airflow 3 counts it); the others wait, scheduled. A file without it keeps its DAG's version",
  },
  catchup: {
    default: String(DEFAULTS.catchup),
    accepted: '`true` or `false`',
    meaning:
      'true: a run for every interval from start_date (or from the last scheduled run) up to now, oldest first; false: only the latest complete interval, missed ones are skipped',
  },
  is_paused_upon_creation: {
    default: '(not paused)',
    accepted: '`true` or `false`',
    meaning:
      'true: a DAG seen for the first time starts paused (`dagbag dags unpause DAG` starts it); later changes of the file leave the pause as it is',
  },
  tags: {
    default: '[]',
    accepted: `up to ${LIMITS.tags} strings of 1–${LIMITS.tagLength} characters`,
    meaning: 'labels to find DAGs by (`GET /api/v2/dags?tags=...`)',
  },
  tasks: {
    default: 'required',
    accepted: `a list of up to ${MAX_TASKS} tasks (below); may be empty`,
    meaning: 'the tasks and, through their `upstream`, the order they run in',
  },
};

export const TASK_FIELD_DOCS: Record<keyof TaskDocument, FieldDoc> = {
  task_id: {
    default: 'required',
    accepted: ID,
    meaning: 'the task\'s id, unique in its DAG (a repeated one is an error: "duplicate task_id")',
  },
  operator: {
    default: 'required',
    accepted: list(OPERATORS),
    meaning:
      '`bash` runs bash_command; `empty` does nothing and succeeds as soon as its trigger rule lets it run',
  },
  bash_command: {
    default: '(required for bash, refused otherwise)',
    accepted: `text of 1–${LIMITS.bashCommandBytes} bytes (UTF-8)`,
    meaning:
      "run with `bash -c` in a fresh process; exit code 0 is success, 99 skipped (BashOperator's `skip_on_exit_code`), any other failed. It sees AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID, AIRFLOW_CTX_DAG_RUN_ID, AIRFLOW_CTX_TRY_NUMBER, AIRFLOW_CTX_LOGICAL_DATE (scheduled runs), DAG_RUN_CONF (the conf of its run as JSON, `{}` for none), DAG_RUN_DATA_INTERVAL_START and DAG_RUN_DATA_INTERVAL_END (when the run has a data interval), DAG_RUN_RUN_AFTER and the variables of SCHEDULER_TASK_ENV_PASSTHROUGH; stdout and stderr are its log. The limit is Linux's: a process gets at most 128 KiB in one string, so a longer script belongs in a file the command runs",
  },
  upstream: {
    default: '[]',
    accepted: 'task_ids of the same DAG, each once; no cycles',
    meaning:
      'the tasks this one waits for (fan-in: several here; fan-out: several tasks naming the same one)',
  },
  trigger_rule: {
    default: `\`${DEFAULTS.trigger_rule}\``,
    accepted: list(TRIGGER_RULES),
    meaning:
      'when the task runs, by its upstream tasks: `all_success` every one succeeded (a failure makes it upstream_failed); `all_done` every one finished, however; `one_success` at least one succeeded; `one_failed` at least one failed (else it is skipped); `none_failed` every one finished and none failed',
  },
  retries: {
    default: String(DEFAULTS.retries),
    accepted: `0–${LIMITS.retries}`,
    meaning: 'further tries after a failed one (a timeout or a lost heartbeat included)',
  },
  retry_delay_seconds: {
    default: String(DEFAULTS.retry_delay_seconds),
    accepted: `0–${LIMITS.retryDelaySeconds}`,
    meaning: 'seconds between a failed try and the next (the task is `up_for_retry` meanwhile)',
  },
  execution_timeout_seconds: {
    default: '(no limit)',
    accepted: `1–${LIMITS.executionTimeoutSeconds}`,
    meaning: 'a try running longer is killed and fails (then retried while tries are left)',
  },
};
