import {
  integerSetting,
  optionalStringSetting,
  readConfig,
  stringSetting,
  type ConfigOf,
} from '@dagbag/config';
import { parse as parseConnectionString } from 'pg-connection-string';

const UNREADABLE_URL =
  'must be a URL the PostgreSQL driver can read: percent-encode the user name and password ' +
  '(@ as %40, : as %3A, / as %2F, # as %23, ? as %3F, % as %25)';

/**
 * What is wrong with a database URL the pattern accepts, if anything:
 * - one the driver cannot read stopped the app at start with "Invalid URL", naming neither the
 *   variable nor the cause (a password with @, #, % or ? left as is);
 * - a `#` starts a fragment, which cuts a password short without a word;
 * - `?schema=` is Prisma's own URL parameter, which node-postgres and Prisma's driver adapter do
 *   not read: every table was created in (and read from) the `public` schema all the same.
 */
function databaseUrlProblem(raw: string): string | undefined {
  let parameters: Record<string, unknown>;
  try {
    // The driver's own parser (node-postgres reads the URL with it): its verdict, not a guess.
    parameters = { ...parseConnectionString(raw) };
  } catch {
    return UNREADABLE_URL;
  }
  // A fragment (a `#` with anything after it) cuts a password short; the parser drops it.
  if (/#./s.test(raw)) return UNREADABLE_URL;
  const schema = typeof parameters.schema === 'string' ? parameters.schema : null;
  if (schema === null) return undefined;
  return (
    `must not carry ?schema=${schema}: dagbag does not support a schema other than public (the ` +
    'parameter would be ignored and the tables created in public); give dagbag a database of its ' +
    'own (CREATE DATABASE dagbag) and drop the parameter'
  );
}

/** Every database variable; each app adds these to its own shape and reads them once at start. */
export const DATABASE_SETTINGS = {
  /** Unset: an embedded PostgreSQL under DATA_DIR (default .data/) is started and used. */
  DATABASE_URL: optionalStringSetting({
    pattern: /^postgres(ql)?:\/\//,
    accepted: 'a postgresql:// URL, without ?schema= (or unset for the embedded PostgreSQL)',
    secret: 'url-password',
    check: databaseUrlProblem,
    description:
      'PostgreSQL to use (`postgresql://…`); unset: the embedded PostgreSQL under DATA_DIR, started on demand',
  }),
  DATABASE_DIRECT_URL: optionalStringSetting({
    pattern: /^postgres(ql)?:\/\//,
    accepted: 'a postgresql:// URL, without ?schema= (or unset: DATABASE_URL)',
    secret: 'url-password',
    check: databaseUrlProblem,
    description:
      "with DATABASE_URL: a connection to the same database that bypasses any pooler, for migrations (at start and `pnpm db:migrate`) the scheduler's DAG-processor lock and both apps' notification listeners; unset: DATABASE_URL. Set it when DATABASE_URL is a pooler in transaction mode: migrations and the processor lock hold session-level advisory locks, which such a pooler leaves held on one of its server connections (the next migration waits for them; other schedulers landing there share the processor lock, and none gets it once its holder stops)",
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
    description:
      "pooled connections per process (application_name `dagbag-api` / `dagbag-scheduler`); the notification listener (`…-listener`) and the scheduler's DAG-processor lock (`dagbag-dag-processor`) hold one more each",
  }),
  DATABASE_CONNECT_TIMEOUT_MS: integerSetting({
    default: 5000,
    min: 100,
    max: 600_000,
    description:
      'give up connecting, or waiting for a free pooled connection, after this long (then the API answers 503, the scheduler backs off)',
  }),
  DATABASE_IDLE_TIMEOUT_MS: integerSetting({
    default: 10_000,
    min: 0,
    max: 3_600_000,
    meaning: '0 = never',
    description: 'close idle pooled connections after this long',
  }),
  DATABASE_STATEMENT_TIMEOUT_MS: integerSetting({
    default: 30_000,
    min: 0,
    max: 3_600_000,
    meaning: '0 = none',
    description:
      'server-side statement timeout: a statement running longer is cancelled; also the longest a transaction may stay open (at least 5 s; with 0, an hour)',
  }),
  DATABASE_NOTIFICATIONS: stringSetting({
    default: 'on',
    pattern: /^(on|off)$/,
    accepted: '`on` or `off`',
    description:
      'on: one LISTEN connection per process; the scheduler wakes on new work and DAG caches drop versions changed in place within milliseconds. off: polling only (SCHEDULER_LOOP_INTERVAL_MS, DAG_CACHE_REVALIDATE_SECONDS), for poolers in transaction mode such as PgBouncer, where LISTEN does not work',
  }),
  DATABASE_PREPARED_STATEMENTS: stringSetting({
    default: 'on',
    pattern: /^(on|off)$/,
    accepted: '`on` or `off`',
    description:
      "on: the hottest reads (GET /dags's page, a DAG cache miss) are prepared once per connection (at most 100 distinct statements per process; further variants of GET /dags, e.g. other sort orders, are sent unprepared). off: every statement is sent unnamed, for poolers in transaction mode such as PgBouncer, where a prepared statement belongs to a server connection the next query may not get",
  }),
};

/**
 * The database settings an app read at start (`readConfig` over a shape holding DATABASE_SETTINGS).
 */
export type DatabaseSettings = ConfigOf<typeof DATABASE_SETTINGS>;

/** The documented defaults, environment ignored: for tests and tools that configure nothing. */
export function defaultDatabaseSettings(): DatabaseSettings {
  return readConfig(DATABASE_SETTINGS, {});
}
