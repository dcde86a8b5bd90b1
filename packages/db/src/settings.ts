import { integerSetting, optionalStringSetting, readConfig } from '@dagbag/config';

/** Every database variable, validated once at start. */
export const DATABASE_SETTINGS = {
  /** Unset: an embedded PostgreSQL under DATA_DIR (default .data/) is started and used. */
  DATABASE_URL: optionalStringSetting(),
  EMBEDDED_POSTGRES_PORT: integerSetting({ default: 54329, min: 1024, max: 65535 }),
  DATABASE_POOL_MAX: integerSetting({ default: 10, min: 1, max: 1000 }),
  DATABASE_CONNECT_TIMEOUT_MS: integerSetting({ default: 5000, min: 100, max: 600_000 }),
  DATABASE_IDLE_TIMEOUT_MS: integerSetting({ default: 10_000, min: 0, max: 3_600_000 }),
  DATABASE_STATEMENT_TIMEOUT_MS: integerSetting({ default: 30_000, min: 0, max: 3_600_000, meaning: '0 = none' }),
};

export type DatabaseSettings = ReturnType<typeof readDatabaseSettings>;

export function readDatabaseSettings(env: Record<string, string | undefined> = process.env) {
  const settings = readConfig(DATABASE_SETTINGS, env);
  if (settings.DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(settings.DATABASE_URL)) {
    throw new Error('DATABASE_URL: must be a postgresql:// URL (or unset for the embedded PostgreSQL)');
  }
  return settings;
}
