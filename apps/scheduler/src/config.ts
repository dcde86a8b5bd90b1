/**
 * Every variable the scheduler reads, validated once at start. A bad value stops the process with
 * a message naming the variable and the accepted range (ConfigError).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { integerSetting, readConfig, repoRoot, stringSetting } from '@dagbag/config';

export interface SchedulerSettingDescriptor {
  readonly variable: string;
  readonly default: number | string;
  readonly min?: number;
  readonly max?: number;
  readonly meaning: string;
}

/** The README's table of scheduler variables is checked against this list. */
export const SCHEDULER_SETTINGS: readonly SchedulerSettingDescriptor[] = [
  { variable: 'DAGS_FOLDER', default: '<repo>/dags', meaning: 'folder scanned for DAG files (*.json, *.yaml, *.yml)' },
  { variable: 'DAG_DIR_SCAN_SECONDS', default: 5, min: 1, max: 86_400, meaning: 'seconds between two scans of DAGS_FOLDER' },
  { variable: 'SCHEDULER_LOOP_INTERVAL_MS', default: 1000, min: 10, max: 600_000, meaning: 'pause between two scheduling loops' },
  { variable: 'SCHEDULER_MAX_DAGRUNS_PER_LOOP', default: 20, min: 1, max: 10_000, meaning: 'running runs examined per loop' },
  { variable: 'SCHEDULER_PARALLELISM', default: 16, min: 1, max: 4096, meaning: 'task processes the local executor runs at once' },
  { variable: 'TASK_HEARTBEAT_TIMEOUT_SECONDS', default: 60, min: 1, max: 86_400, meaning: 'a queued or running task instance silent this long is retried or failed' },
  { variable: 'TASK_HEARTBEAT_INTERVAL_SECONDS', default: 5, min: 1, max: 3_600, meaning: 'how often the executor heartbeats its running task instances and its job' },
  { variable: 'SCHEDULER_DAG_CACHE_RECONCILE_SECONDS', default: 30, min: 1, max: 86_400, meaning: 'how often the DAG cache drops versions no unfinished run uses' },
  { variable: 'SCHEDULER_SHUTDOWN_GRACE_SECONDS', default: 30, min: 0, max: 86_400, meaning: 'on SIGTERM, how long running tasks may finish before they are handed back' },
  { variable: 'SCHEDULER_DB_BACKOFF_MAX_MS', default: 30_000, min: 100, max: 600_000, meaning: 'longest pause between retries while the database is unreachable' },
  { variable: 'METRICS_PORT', default: 9465, min: 1, max: 65_535, meaning: 'Prometheus /metrics port' },
];

function integer(variable: string) {
  const d = SCHEDULER_SETTINGS.find((s) => s.variable === variable)!;
  return integerSetting({ default: d.default as number, min: d.min!, max: d.max! });
}

const SHAPE = {
  DAGS_FOLDER: stringSetting({ default: '' }),
  DAG_DIR_SCAN_SECONDS: integer('DAG_DIR_SCAN_SECONDS'),
  SCHEDULER_LOOP_INTERVAL_MS: integer('SCHEDULER_LOOP_INTERVAL_MS'),
  SCHEDULER_MAX_DAGRUNS_PER_LOOP: integer('SCHEDULER_MAX_DAGRUNS_PER_LOOP'),
  SCHEDULER_PARALLELISM: integer('SCHEDULER_PARALLELISM'),
  TASK_HEARTBEAT_TIMEOUT_SECONDS: integer('TASK_HEARTBEAT_TIMEOUT_SECONDS'),
  TASK_HEARTBEAT_INTERVAL_SECONDS: integer('TASK_HEARTBEAT_INTERVAL_SECONDS'),
  SCHEDULER_DAG_CACHE_RECONCILE_SECONDS: integer('SCHEDULER_DAG_CACHE_RECONCILE_SECONDS'),
  SCHEDULER_SHUTDOWN_GRACE_SECONDS: integer('SCHEDULER_SHUTDOWN_GRACE_SECONDS'),
  SCHEDULER_DB_BACKOFF_MAX_MS: integer('SCHEDULER_DB_BACKOFF_MAX_MS'),
  METRICS_PORT: integer('METRICS_PORT'),
};

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
  metricsPort: number;
}

export function readSchedulerConfig(env: Record<string, string | undefined> = process.env): SchedulerConfig {
  const values = readConfig(SHAPE, env);
  const folder = values.DAGS_FOLDER;
  return {
    dagsFolder: folder === '' ? join(repoRoot(), 'dags') : isAbsolute(folder) ? folder : resolve(folder),
    dagDirScanSeconds: values.DAG_DIR_SCAN_SECONDS,
    loopIntervalMs: values.SCHEDULER_LOOP_INTERVAL_MS,
    maxDagRunsPerLoop: values.SCHEDULER_MAX_DAGRUNS_PER_LOOP,
    parallelism: values.SCHEDULER_PARALLELISM,
    heartbeatTimeoutSeconds: values.TASK_HEARTBEAT_TIMEOUT_SECONDS,
    // A heartbeat interval at or above the timeout would time out healthy tasks: cap it.
    heartbeatIntervalSeconds: Math.max(1, Math.min(values.TASK_HEARTBEAT_INTERVAL_SECONDS, Math.floor(values.TASK_HEARTBEAT_TIMEOUT_SECONDS / 3))),
    reconcileSeconds: values.SCHEDULER_DAG_CACHE_RECONCILE_SECONDS,
    shutdownGraceSeconds: values.SCHEDULER_SHUTDOWN_GRACE_SECONDS,
    dbBackoffMaxMs: values.SCHEDULER_DB_BACKOFF_MAX_MS,
    metricsPort: values.METRICS_PORT,
  };
}
