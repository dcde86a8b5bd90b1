import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, repoRoot } from '@dagbag/config';
import { modulesLoadedBy } from '@dagbag/config/testing/loaded-modules';
import { instrumentedPackageOf } from '@dagbag/telemetry';
import {
  ignoredVariableLine,
  readSchedulerConfig,
  SCHEDULER_SETTING_DESCRIPTORS,
} from './config.ts';

describe('scheduler configuration', () => {
  it('loads none of the packages telemetry patches (main imports it before telemetry starts)', async () => {
    const loaded = await modulesLoadedBy(join(import.meta.dirname, 'config.ts'));
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((url) => instrumentedPackageOf(url))).toEqual([]);
  }, 60_000);

  it('uses the documented defaults', () => {
    expect(readSchedulerConfig({})).toMatchObject({
      dagsFolder: `${repoRoot()}/dags`,
      dagDirScanSeconds: 5,
      loopIntervalMs: 1000,
      maxDagRunsPerLoop: 20,
      parallelism: 16,
      heartbeatTimeoutSeconds: 60,
      metricsPort: 9465,
    });
  });

  it('reads relative DAGS_FOLDER and DATA_DIR from where pnpm was started, not apps/scheduler', () => {
    const config = readSchedulerConfig({
      DAGS_FOLDER: 'my-dags',
      DATA_DIR: '.prod',
      INIT_CWD: '/srv/dagbag',
    });
    expect(config.dagsFolder).toBe('/srv/dagbag/my-dags');
    expect(config.dataDir).toBe('/srv/dagbag/.prod');
  });

  it('names a misspelt or Airflow-style variable it ignores, with the setting it likely meant', () => {
    const config = readSchedulerConfig({
      SCHEDULER_PARALELLISM: '64',
      DAG_DIR_SCAN_SECOND: '2',
      AIRFLOW__CORE__PARALLELISM: '64',
      SCHEDULER_PARALLELISM: '8',
      API_PORT: '9000',
      AIRFLOW_CTX_DAG_ID: 'x',
      PATH: '/usr/bin',
    });
    expect(config.parallelism).toBe(8);
    expect(config.ignored.map(ignoredVariableLine)).toEqual([
      "AIRFLOW__CORE__PARALLELISM is not a setting of the scheduler and is ignored; dagbag reads none of Airflow's AIRFLOW__ variables: its settings are in the README's Configuration tables",
      'DAG_DIR_SCAN_SECOND is not a setting of the scheduler and is ignored; did you mean DAG_DIR_SCAN_SECONDS?',
      'SCHEDULER_PARALELLISM is not a setting of the scheduler and is ignored; did you mean SCHEDULER_PARALLELISM?',
    ]);
    expect(readSchedulerConfig({ SCHEDULER_PARALLELISM: '8', DATA_DIR: '/d' }).ignored).toEqual([]);
  });

  it('shows in its start line the heartbeat interval it uses, at most a third of the timeout', () => {
    const config = readSchedulerConfig({
      TASK_HEARTBEAT_TIMEOUT_SECONDS: '60',
      TASK_HEARTBEAT_INTERVAL_SECONDS: '30',
    });
    expect(config.heartbeatIntervalSeconds).toBe(20);
    expect(config.effective.TASK_HEARTBEAT_INTERVAL_SECONDS).toBe(20);
  });

  it('stops at a bad value, naming the variable and the range', () => {
    expect(() => readSchedulerConfig({ SCHEDULER_PARALLELISM: '0' })).toThrowError(ConfigError);
    expect(() => readSchedulerConfig({ SCHEDULER_PARALLELISM: '0' })).toThrowError(
      /SCHEDULER_PARALLELISM: must be a whole number from 1 to 4096; got "0"/,
    );
  });

  it('describes each of its variables with default, range and meaning for the README', () => {
    const rows = new Map(SCHEDULER_SETTING_DESCRIPTORS.map((row) => [row.variable, row]));
    expect(rows.get('SCHEDULER_PARALLELISM')).toMatchObject({ default: '16', accepted: '1–4096' });
    for (const variable of [
      'DAGS_FOLDER',
      'DAG_DIR_SCAN_SECONDS',
      'SCHEDULER_LOOP_INTERVAL_MS',
      'SCHEDULER_MAX_DAGRUNS_PER_LOOP',
      'TASK_HEARTBEAT_TIMEOUT_SECONDS',
    ]) {
      expect(rows.get(variable)?.description, variable).toBeTruthy();
    }
  });

  it('passes tasks only the allow-listed variables, and never lets the secrets be listed', () => {
    const env = { PATH: '/usr/bin', HOME: '/home/x', DATABASE_URL: 'postgresql://u:p@h/db' };
    expect(readSchedulerConfig(env).taskEnv).toEqual({ PATH: '/usr/bin', HOME: '/home/x' });
    expect(readSchedulerConfig({ ...env, SCHEDULER_TASK_ENV_PASSTHROUGH: 'PATH' }).taskEnv).toEqual(
      { PATH: '/usr/bin' },
    );
    for (const listed of ['PATH,DATABASE_URL', 'API_AUTH_TOKENS', 'PATH,,HOME', 'A-B'])
      expect(() => readSchedulerConfig({ SCHEDULER_TASK_ENV_PASSTHROUGH: listed })).toThrowError(
        /SCHEDULER_TASK_ENV_PASSTHROUGH: must be comma-separated variable names/,
      );
  });

  it("refuses to pass tasks any variable that holds the deployment's secrets", () => {
    for (const listed of [
      'DATABASE_DIRECT_URL',
      'PATH,PGPASSWORD',
      'DAGBAG_API_TOKEN,HOME',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
    ])
      expect(() => readSchedulerConfig({ SCHEDULER_TASK_ENV_PASSTHROUGH: listed })).toThrowError(
        /SCHEDULER_TASK_ENV_PASSTHROUGH: must be comma-separated variable names/,
      );
  });
});
