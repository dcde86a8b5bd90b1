import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.ts';
import { readDatabaseSettings, type DatabaseSettings } from './settings.ts';

export { PrismaClient };
export type { Prisma } from './generated/prisma/client.ts';

export interface ClientOptions {
  url: string;
  settings?: Partial<DatabaseSettings>;
  /** Shown in pg_stat_activity, so operators can tell the api from the scheduler. */
  applicationName?: string;
}

/** A Prisma client over node-postgres (`@prisma/adapter-pg`), pool sized from the environment. */
export function createPrismaClient(options: ClientOptions): PrismaClient {
  const settings = { ...readDatabaseSettings({}), ...options.settings };
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: settings.DATABASE_POOL_MAX,
    connectionTimeoutMillis: settings.DATABASE_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: settings.DATABASE_IDLE_TIMEOUT_MS,
    statement_timeout: settings.DATABASE_STATEMENT_TIMEOUT_MS || undefined,
    application_name: options.applicationName ?? 'dagbag',
  });
  return new PrismaClient({ adapter });
}
