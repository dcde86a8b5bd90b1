import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.ts';
import type { DatabaseSettings } from './settings.ts';

export { PrismaClient };
export type { Prisma } from './generated/prisma/client.ts';

export interface ClientOptions {
  url: string;
  /**
   * The pool's size and timeouts, as the app read them at start (`defaultDatabaseSettings()` in
   * tests).
   */
  settings: Pick<
    DatabaseSettings,
    | 'DATABASE_POOL_MAX'
    | 'DATABASE_CONNECT_TIMEOUT_MS'
    | 'DATABASE_IDLE_TIMEOUT_MS'
    | 'DATABASE_STATEMENT_TIMEOUT_MS'
  >;
  /** Shown in pg_stat_activity, so operators can tell the api from the scheduler. */
  applicationName: string;
}

/**
 * Statements whose text starts with this comment are prepared once per connection (a named
 * statement: parsed and planned once, then only bound and executed); every other is sent unnamed,
 * as Prisma sends it. For hot reads whose text has few variants (each variant is one statement
 * per pooled connection, freed when the connection closes).
 */
export const PREPARED = '/* prepared */';

function preparedName(sql: string): string | undefined {
  if (!sql.startsWith(PREPARED)) return undefined;
  return `dagbag_${createHash('sha1').update(sql).digest('base64url')}`;
}

/**
 * A Prisma client over node-postgres (`@prisma/adapter-pg`), its pool sized and timed by
 * `settings`.
 */
export function createPrismaClient(options: ClientOptions): PrismaClient {
  const { settings } = options;
  const adapter = new PrismaPg(
    {
      connectionString: options.url,
      max: settings.DATABASE_POOL_MAX,
      connectionTimeoutMillis: settings.DATABASE_CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: settings.DATABASE_IDLE_TIMEOUT_MS,
      // Sent as a startup parameter: the server cancels a statement running longer
      // (SQLSTATE 57014).
      statement_timeout: settings.DATABASE_STATEMENT_TIMEOUT_MS || undefined,
      application_name: options.applicationName,
    },
    {
      // An unnamed statement where there is no name (the adapter's type says string).
      statementNameGenerator: (query) => preparedName(query.sql) as string,
    },
  );
  return new PrismaClient({ adapter, transactionOptions: transactionOptions(settings) });
}

/**
 * How long an interactive transaction may wait for a pooled connection and stay open. Prisma's own
 * defaults (2 s, 5 s) are shorter than the pool's: a burst of concurrent writes then failed with
 * P2028 after 2 s in the queue while the pool would have served them. Here the pool's timeout
 * decides (its error answers 503), and a transaction may last as long as one statement may (at
 * least 5 s).
 */
export function transactionOptions(
  settings: Pick<DatabaseSettings, 'DATABASE_CONNECT_TIMEOUT_MS' | 'DATABASE_STATEMENT_TIMEOUT_MS'>,
): { maxWait: number; timeout: number } {
  const statementTimeout = settings.DATABASE_STATEMENT_TIMEOUT_MS;
  return {
    maxWait: settings.DATABASE_CONNECT_TIMEOUT_MS + 1_000,
    timeout:
      statementTimeout === 0
        ? TRANSACTION_TIMEOUT_WITHOUT_LIMIT_MS
        : Math.max(MIN_TRANSACTION_TIMEOUT_MS, statementTimeout),
  };
}

/** Prisma's default: a short statement timeout must not cut transactions of several statements. */
const MIN_TRANSACTION_TIMEOUT_MS = 5_000;
/** With DATABASE_STATEMENT_TIMEOUT_MS=0 (no statement limit), a transaction still ends. */
const TRANSACTION_TIMEOUT_WITHOUT_LIMIT_MS = 3_600_000;
