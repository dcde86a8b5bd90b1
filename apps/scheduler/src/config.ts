/**
 * Every variable the scheduler process reads (its own, the DAG cache's, the database's, the
 * telemetry's, DATA_DIR), validated once at start in `main`. A bad value stops the process with
 * a message naming the variable and the accepted range (ConfigError).
 */
import { isAbsolute, resolve } from 'node:path';
import {
  SHARED_SETTINGS,
  dataDir,
  describeSettings,
  effectiveSettings,
  exampleDagsFolder,
  pickSettings,
  gcHeadroomSetting,
  integerSetting,
  readConfig,
  stringSetting,
  unknownSettings,
  type UnknownSetting,
} from '@dagbag/config';
import { cacheSettingsFrom, cacheSettingsShape, type DagCacheSettings } from '@dagbag/dagbag';
// The settings module only: importing @dagbag/db itself would load pg before telemetry patches it.
import { DATABASE_SETTINGS, type DatabaseSettings } from '@dagbag/db/settings';
import { LOGGER_SETTINGS } from '@dagbag/logger';
import {
  OTEL_SETTINGS,
  metricsPortOf,
  telemetrySettings,
  type OtelSettings,
} from '@dagbag/telemetry';

/**
 * What a task sees of the scheduler's environment unless SCHEDULER_TASK_ENV_PASSTHROUGH says
 * otherwise.
 */
export const TASK_ENV_DEFAULT = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'TZ',
  'TMPDIR',
] as const;

/**
 * Variables holding the deployment's secrets, which SCHEDULER_TASK_ENV_PASSTHROUGH refuses: the
 * database URLs and the password pg reads, API tokens, and the OTLP exporters' headers (where a
 * collector's credentials go).
 */
export const TASK_ENV_REFUSED = [
  'DATABASE_URL',
  'DATABASE_DIRECT_URL',
  'PGPASSWORD',
  'API_AUTH_TOKENS',
  'DAGBAG_API_TOKEN',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'OTEL_EXPORTER_OTLP_LOGS_HEADERS',
] as const;

const REFUSED_NAMES = TASK_ENV_REFUSED.join('|');

export const SCHEDULER_OWN_SETTINGS = {
  DAGS_FOLDER: stringSetting({
    default: '',
    accepted: 'a folder; a relative one from where the command was started',
    path: true,
    description:
      'folder scanned for DAG files (*.json, *.yaml, *.yml); unset: `dags/` at the repository root',
  }),
  DAG_DIR_SCAN_SECONDS: integerSetting({
    default: 5,
    min: 1,
    max: 86_400,
    description: 'seconds between two scans of DAGS_FOLDER',
  }),
  SCHEDULER_LOOP_INTERVAL_MS: integerSetting({
    default: 1000,
    min: 10,
    max: 600_000,
    description:
      'pause after a scheduling loop that changed nothing (a loop that changed something, or a finished task, brings the next at once)',
  }),
  SCHEDULER_MAX_DAGRUNS_PER_LOOP: integerSetting({
    default: 20,
    min: 1,
    max: 10_000,
    description: 'running runs examined per loop, least recently examined first',
  }),
  SCHEDULER_PARALLELISM: integerSetting({
    default: 16,
    min: 1,
    max: 4096,
    description: 'task processes the local executor runs at once',
  }),
  TASK_HEARTBEAT_TIMEOUT_SECONDS: integerSetting({
    default: 60,
    min: 1,
    max: 86_400,
    description:
      'a queued or running task instance without heartbeat this long is retried (tries left) or failed; a task whose scheduler stops without dying (SIGSTOP, a paused VM) is killed by its watchdog one TASK_HEARTBEAT_INTERVAL_SECONDS before that',
  }),
  TASK_HEARTBEAT_INTERVAL_SECONDS: integerSetting({
    default: 5,
    min: 1,
    max: 3_600,
    description:
      'how often task and job heartbeats are written; at most a third of the timeout. During a database outage the job heartbeat still tries this often, and the first that works brings every other task back',
  }),
  SCHEDULER_DAG_CACHE_RECONCILE_SECONDS: integerSetting({
    default: 30,
    min: 1,
    max: 86_400,
    description: 'how often the DAG cache drops versions no unfinished run or task instance uses',
  }),
  SCHEDULER_SHUTDOWN_GRACE_SECONDS: integerSetting({
    default: 30,
    min: 0,
    max: 86_400,
    description:
      'on SIGTERM, how long running tasks may finish before they are handed back for another scheduler',
  }),
  SCHEDULER_DB_BACKOFF_MAX_MS: integerSetting({
    default: 30_000,
    min: 100,
    max: 600_000,
    description:
      'longest pause between attempts while the database is unreachable (the loop, the DAG processor, the cache reconciliation; the job heartbeat keeps to its interval)',
  }),
  SCHEDULER_GC_HEADROOM_PERCENT: gcHeadroomSetting(),
  SCHEDULER_TASK_ENV_PASSTHROUGH: stringSetting({
    default: TASK_ENV_DEFAULT.join(','),
    // Names only, comma-separated; the scheduler's secrets can never be passed on.
    pattern: new RegExp(
      `^(?!(?:.*,)?(?:${REFUSED_NAMES})(?:,|$))(?:[A-Za-z_][A-Za-z0-9_]*(?:,[A-Za-z_][A-Za-z0-9_]*)*)?$`,
    ),
    accepted: `comma-separated variable names, none of ${TASK_ENV_REFUSED.join(', ')} (empty: none)`,
    description:
      "the only variables of the scheduler's environment a task sees (besides AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID, AIRFLOW_CTX_DAG_RUN_ID, AIRFLOW_CTX_TRY_NUMBER, AIRFLOW_CTX_LOGICAL_DATE, DAG_RUN_CONF, DAG_RUN_DATA_INTERVAL_START, DAG_RUN_DATA_INTERVAL_END and DAG_RUN_RUN_AFTER); never the database URLs, API tokens or OTLP headers",
  }),
};

export const SCHEDULER_SETTINGS = {
  ...SCHEDULER_OWN_SETTINGS,
  ...cacheSettingsShape('scheduler'),
  ...DATABASE_SETTINGS,
  ...telemetrySettings('dagbag-scheduler'),
  ...SHARED_SETTINGS,
  ...LOGGER_SETTINGS,
};

/**
 * One row per scheduler variable (name, default, accepted range, meaning): the README table is
 * checked against it.
 */
export const SCHEDULER_SETTING_DESCRIPTORS = describeSettings(SCHEDULER_OWN_SETTINGS);

export interface SchedulerConfig {
  dagsFolder: string;
  dagDirScanSeconds: number;
  loopIntervalMs: number;
  maxDagRunsPerLoop: number;
  parallelism: number;
  heartbeatTimeoutSeconds: number;
  heartbeatIntervalSeconds: number;
  reconcileSeconds: number;
  shutdownGraceSeconds: number;
  dbBackoffMaxMs: number;
  gcHeadroomPercent: number;
  metricsPort: number;
  metricsHost: string;
  /** The scheduler DagBag's bounds (SCHEDULER_DAG_CACHE_*, DAG_CACHE_REVALIDATE_SECONDS). */
  dagCache: DagCacheSettings;
  database: DatabaseSettings;
  otel: OtelSettings;
  /** LOG_LEVEL and LOG_FORMAT, for `createLogger`. */
  logging: { level: string; format: string };
  /** DATA_DIR resolved: the embedded PostgreSQL and the task logs (`logs/`) live here. */
  dataDir: string;
  /** Every variable with the value in effect, secrets redacted: for the start line. */
  effective: Readonly<Record<string, unknown>>;
  /** The allow-listed variables of the scheduler's environment, as tasks get them. */
  taskEnv: Record<string, string>;
  /** Variables named like the scheduler's settings that are none (typos): said at start. */
  ignored: UnknownSetting[];
}

/**
 * Where the scheduler's settings live; a variable with one of these prefixes that is not one of
 * them is said at start. Not API_: `pnpm dev` gives both apps one environment. AIRFLOW__: an
 * Airflow operator's habit (AIRFLOW__CORE__PARALLELISM), which dagbag does not read.
 */
const SCHEDULER_PREFIXES = [
  'SCHEDULER_',
  'DAGS_',
  'DAG_',
  'TASK_',
  'DATABASE_',
  'EMBEDDED_POSTGRES',
  'METRICS_',
  'AIRFLOW__',
];

/** One line for a variable the scheduler ignores, naming the setting it most likely meant. */
export function ignoredVariableLine({ variable, closest }: UnknownSetting): string {
  const hint = closest
    ? `did you mean ${closest}?`
    : variable.startsWith('AIRFLOW__')
      ? "dagbag reads none of Airflow's AIRFLOW__ variables: its settings are in the README's Configuration tables"
      : "the scheduler's settings are in the README's Configuration tables";
  return `${variable} is not a setting of the scheduler and is ignored; ${hint}`;
}

/** Reads and validates every scheduler variable once; throws ConfigError naming each bad one. */
export function readSchedulerConfig(env: Record<string, string | undefined>): SchedulerConfig {
  const values = readConfig(SCHEDULER_SETTINGS, env);
  const folder = values.DAGS_FOLDER;
  const dagsFolder =
    folder === '' ? exampleDagsFolder() : isAbsolute(folder) ? folder : resolve(folder);
  const data = dataDir(values.DATA_DIR);
  // A heartbeat interval near the timeout would time out healthy tasks: at most a third of it.
  const heartbeatIntervalSeconds = Math.max(
    1,
    Math.min(
      values.TASK_HEARTBEAT_INTERVAL_SECONDS,
      Math.floor(values.TASK_HEARTBEAT_TIMEOUT_SECONDS / 3),
    ),
  );
  return {
    dagsFolder,
    dagDirScanSeconds: values.DAG_DIR_SCAN_SECONDS,
    loopIntervalMs: values.SCHEDULER_LOOP_INTERVAL_MS,
    maxDagRunsPerLoop: values.SCHEDULER_MAX_DAGRUNS_PER_LOOP,
    parallelism: values.SCHEDULER_PARALLELISM,
    heartbeatTimeoutSeconds: values.TASK_HEARTBEAT_TIMEOUT_SECONDS,
    heartbeatIntervalSeconds,
    reconcileSeconds: values.SCHEDULER_DAG_CACHE_RECONCILE_SECONDS,
    shutdownGraceSeconds: values.SCHEDULER_SHUTDOWN_GRACE_SECONDS,
    dbBackoffMaxMs: values.SCHEDULER_DB_BACKOFF_MAX_MS,
    gcHeadroomPercent: values.SCHEDULER_GC_HEADROOM_PERCENT,
    metricsPort: metricsPortOf('dagbag-scheduler', values),
    metricsHost: values.METRICS_HOST,
    dagCache: cacheSettingsFrom('scheduler', values),
    database: pickSettings(DATABASE_SETTINGS, values),
    otel: pickSettings(OTEL_SETTINGS, values),
    logging: { level: values.LOG_LEVEL, format: values.LOG_FORMAT },
    dataDir: data,
    effective: Object.freeze({
      ...effectiveSettings(SCHEDULER_SETTINGS, values),
      // The start line said the value asked for (30) while a third of the timeout (20) was used.
      TASK_HEARTBEAT_INTERVAL_SECONDS: heartbeatIntervalSeconds,
      DAGS_FOLDER: dagsFolder,
      DATA_DIR: data,
    }),
    ignored: unknownSettings(SCHEDULER_SETTINGS, env, SCHEDULER_PREFIXES),
    taskEnv: Object.fromEntries(
      values.SCHEDULER_TASK_ENV_PASSTHROUGH.split(',').flatMap((name) => {
        const value = name === '' ? undefined : env[name];
        return value === undefined ? [] : [[name, value]];
      }),
    ),
  };
}
