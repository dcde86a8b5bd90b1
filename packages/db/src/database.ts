/**
 * "Give me a database": DATABASE_URL when set; otherwise the embedded PostgreSQL under
 * `.data/postgres`, started by the first process that needs it and shared with the others.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { dataDir } from '@dagbag/config';
import type { Logger } from '@dagbag/logger';
import { silentLogger } from '@dagbag/logger';
import { startEmbeddedPostgres } from './embedded.ts';
import { migrateDatabase } from './migrate/operations.ts';
import { readDatabaseSettings } from './settings.ts';

export interface OpenDatabase {
  url: string;
  /** True when this process started the embedded server (and stops it in `stop`). */
  ownsServer: boolean;
  embedded: boolean;
  stop(): Promise<void>;
}

const EMBEDDED_DATABASE = 'dagbag';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabaseExists(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name}"`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

export async function openDatabase(
  options: { env?: Record<string, string | undefined>; logger?: Logger; migrate?: boolean } = {},
): Promise<OpenDatabase> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const settings = readDatabaseSettings(env);
  const migrate = options.migrate ?? true;

  if (settings.DATABASE_URL) {
    if (migrate) await migrateDatabase(settings.DATABASE_URL, { logger });
    return { url: settings.DATABASE_URL, ownsServer: false, embedded: false, stop: async () => {} };
  }

  const root = join(dataDir(env), 'postgres');
  const ownerFile = join(dataDir(env), 'postgres.owner');
  const port = settings.EMBEDDED_POSTGRES_PORT;
  const adminUrl = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/${EMBEDDED_DATABASE}`;

  // Another live process of ours (e.g. `pnpm dev` running the apps) already serves it: share it.
  const owner = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8')) : NaN;
  if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner) && (await canConnect(adminUrl))) {
    logger.info({ port, owner }, 'using the embedded PostgreSQL started by another process');
    await ensureDatabaseExists(adminUrl, EMBEDDED_DATABASE);
    if (migrate) await migrateDatabase(url, { logger });
    return { url, ownsServer: false, embedded: true, stop: async () => {} };
  }

  const server = await startEmbeddedPostgres({ dataDir: root, port, logger });
  writeFileSync(ownerFile, String(process.pid));
  const stop = async () => {
    await server.stop();
    rmSync(ownerFile, { force: true });
  };
  try {
    await ensureDatabaseExists(adminUrl, EMBEDDED_DATABASE);
    if (migrate) await migrateDatabase(url, { logger });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, ownsServer: true, embedded: true, stop };
}
