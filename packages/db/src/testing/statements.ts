/**
 * A Prisma client that records every SQL statement it sends, for tests that prove how many round
 * trips a request costs (the statements are counted on the wire, below Prisma).
 */
import { createPrismaClient, poolOf, type PrismaClient } from '../client.ts';
import { defaultDatabaseSettings } from '../settings.ts';

export interface RecordingClient {
  prisma: PrismaClient;
  /** The text of every statement sent so far, in order. */
  readonly statements: string[];
  /** The same statements with their parameters: what a test can EXPLAIN as it was run. */
  readonly queries: RecordedQuery[];
}

export interface RecordedQuery {
  text: string;
  values: unknown[];
}

/** The production client (createPrismaClient), with each new connection's queries recorded. */
export function createRecordingPrismaClient(url: string): RecordingClient {
  const statements: string[] = [];
  const queries: RecordedQuery[] = [];
  const prisma = createPrismaClient({
    url,
    applicationName: 'dagbag-recording-client',
    // The production client's timeouts, the connection wait longer: a test's burst of requests on
    // a CI machine whose cores are shared by three suites may queue for seconds.
    settings: {
      ...defaultDatabaseSettings(),
      DATABASE_POOL_MAX: 4,
      DATABASE_CONNECT_TIMEOUT_MS: 30_000,
    },
  });
  poolOf(prisma)!.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text = typeof first === 'string' ? first : (first as { text: string }).text;
      const values =
        (typeof first === 'string' ? args[1] : (first as { values?: unknown }).values) ?? [];
      statements.push(text);
      queries.push({ text, values: values as unknown[] });
      return query(...args);
    };
  });
  return { prisma, statements, queries };
}
