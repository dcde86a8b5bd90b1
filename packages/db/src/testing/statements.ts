/**
 * A Prisma client that records every SQL statement it sends, for tests that prove how many round
 * trips a request costs (the statements are counted on the wire, below Prisma).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { ignoreIdleClientError, PrismaClient, transactionOptions, withPool } from '../client.ts';
import { defaultDatabaseSettings } from '../settings.ts';

export interface RecordingClient {
  prisma: PrismaClient;
  /** The text of every statement sent so far, in order. */
  readonly statements: string[];
}

export function createRecordingPrismaClient(url: string): RecordingClient {
  const statements: string[] = [];
  // The production client's timeouts, the connection wait longer: a test's burst of requests on a
  // CI machine whose cores are shared by three suites may queue for seconds.
  const settings = { ...defaultDatabaseSettings(), DATABASE_CONNECT_TIMEOUT_MS: 30_000 };
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: settings.DATABASE_CONNECT_TIMEOUT_MS,
  });
  pool.on('error', ignoreIdleClientError);
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      statements.push(typeof first === 'string' ? first : (first as { text: string }).text);
      return query(...args);
    };
  });
  const prisma = withPool(
    new PrismaClient({
      adapter: new PrismaPg(pool, { disposeExternalPool: true }),
      transactionOptions: transactionOptions(settings),
    }),
    pool,
  );
  return { prisma, statements };
}
