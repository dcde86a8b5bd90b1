import { integerSetting, optionalStringSetting, readConfig, stringSetting } from '@dagbag/config';

/** Every database variable, validated once at start. */
export const DATABASE_SETTINGS = {
  /** Unset: an embedded PostgreSQL under DATA_DIR (default .data/) is started and used. */
  DATABASE_URL: optionalStringSetting({
    description:
      'PostgreSQL to use (`postgresql://…`); unset: the embedded PostgreSQL under DATA_DIR, started on demand',
  }),
  EMBEDDED_POSTGRES_PORT: integerSetting({
    default: 54329,
    min: 1024,
    max: 65535,
    description:
      'port of the embedded PostgreSQL (not 5432, so a system PostgreSQL can run beside it)',
  }),
  DATABASE_POOL_MAX: integerSetting({
    default: 10,
    min: 1,
    max: 1000,
    description: 'connections per process',
  }),
  DATABASE_CONNECT_TIMEOUT_MS: integerSetting({
    default: 5000,
    min: 100,
    max: 600_000,
    description:
      'give up connecting after this long (then the API answers 503, the scheduler backs off)',
  }),
  DATABASE_IDLE_TIMEOUT_MS: integerSetting({
    default: 10_000,
    min: 0,
    max: 3_600_000,
    description: 'close idle pooled connections after this long',
  }),
  DATABASE_STATEMENT_TIMEOUT_MS: integerSetting({
    default: 30_000,
    min: 0,
    max: 3_600_000,
    meaning: '0 = none',
    description: 'server-side statement timeout',
  }),
  DATABASE_NOTIFICATIONS: stringSetting({
    default: 'on',
    pattern: /^(on|off)$/,
    accepted: '`on` or `off`',
    description:
      'on: one LISTEN connection per process; the scheduler wakes on new work and DAG caches drop versions changed in place within milliseconds. off: polling only (SCHEDULER_LOOP_INTERVAL_MS, DAG_CACHE_REVALIDATE_SECONDS), for poolers in transaction mode such as PgBouncer, where LISTEN does not work',
  }),
};

export type DatabaseSettings = ReturnType<typeof readDatabaseSettings>;

export function readDatabaseSettings(env: Record<string, string | undefined> = process.env) {
  const settings = readConfig(DATABASE_SETTINGS, env);
  if (settings.DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(settings.DATABASE_URL)) {
    throw new Error(
      'DATABASE_URL: must be a postgresql:// URL (or unset for the embedded PostgreSQL)',
    );
  }
  return settings;
}
