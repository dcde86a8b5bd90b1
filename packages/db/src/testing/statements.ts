/**
 * A Prisma client that records every SQL statement it sends, for tests that prove how many round
 * trips a request costs (the statements are counted on the wire, below Prisma).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../client.ts';

export interface RecordingClient {
  prisma: PrismaClient;
  /** The text of every statement sent so far, in order. */
  readonly statements: string[];
}

export function createRecordingPrismaClient(url: string): RecordingClient {
  const statements: string[] = [];
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      statements.push(typeof first === 'string' ? first : (first as { text: string }).text);
      return query(...args);
    };
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  return { prisma, statements };
}
