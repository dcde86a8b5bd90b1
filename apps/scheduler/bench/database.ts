/**
 * A throwaway embedded PostgreSQL for the benchmark (temp folder, free port, durability off),
 * migrated.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createPrismaClient,
  defaultDatabaseSettings,
  migrateDatabase,
  startEmbeddedPostgres,
  type PrismaClient,
} from '@dagbag/db';
import { freePort } from '@dagbag/config/testing/free-port';

export interface BenchDatabase {
  url: string;
  prisma: PrismaClient;
  /** Deletes every DAG (runs, versions and task instances cascade) and job. */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchDatabase(): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dagbag-scheduler-bench-'));
  const server = await startEmbeddedPostgres({
    dataDir,
    port: await freePort(),
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
  });
  await migrateDatabase(server.url);
  const prisma = createPrismaClient({
    url: server.url,
    settings: defaultDatabaseSettings(),
    applicationName: 'scheduler-bench',
  });
  return {
    url: server.url,
    prisma,
    async clear() {
      await prisma.dag.deleteMany();
      await prisma.importError.deleteMany();
      await prisma.job.deleteMany();
    },
    async stop() {
      await prisma.$disconnect();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
