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
 * A Prisma client over node-postgres (`@prisma/adapter-pg`), its pool sized and timed by
 * `settings`.
 */
export function createPrismaClient(options: ClientOptions): PrismaClient {
  const { settings } = options;
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: settings.DATABASE_POOL_MAX,
    connectionTimeoutMillis: settings.DATABASE_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: settings.DATABASE_IDLE_TIMEOUT_MS,
    // Sent as a startup parameter: the server cancels a statement running longer (SQLSTATE 57014).
    statement_timeout: settings.DATABASE_STATEMENT_TIMEOUT_MS || undefined,
    application_name: options.applicationName,
  });
  return new PrismaClient({ adapter });
}
