/**
 * "Give me a database": DATABASE_URL when set; otherwise the embedded PostgreSQL under
 * `.data/postgres`, started by the first process that needs it and shared with the others.
 */
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Logger } from '@dagbag/logger';
import { silentLogger } from '@dagbag/logger';
import { embeddedPassword, isAlive, startEmbeddedPostgres } from './embedded.ts';
import { connectionFailure } from './errors.ts';
import { migrateDatabase } from './migrate/operations.ts';
import type { DatabaseSettings } from './settings.ts';

export interface OpenDatabase {
  url: string;
  /** Where migrations run: DATABASE_DIRECT_URL when set (bypassing a pooler), else `url`. */
  migrationUrl: string;
  /** True when this process started the embedded server (and stops it in `stop`). */
  ownsServer: boolean;
  embedded: boolean;
  stop(): Promise<void>;
}

const EMBEDDED_DATABASE = 'dagbag';

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

/**
 * Creates the owner file holding our pid, unless it exists (then another process owns it).
 * Written aside and hard-linked into place, so nobody ever reads it half-written.
 */
function claimOwnership(ownerFile: string): boolean {
  mkdirSync(dirname(ownerFile), { recursive: true });
  const draft = `${ownerFile}.${process.pid}`;
  writeFileSync(draft, String(process.pid));
  try {
    linkSync(draft, ownerFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** The owner may still be initialising or starting the server. */
async function waitUntilConnectable(
  adminUrl: string,
  owner: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await canConnect(adminUrl))) {
    if (!isAlive(owner))
      throw new Error(
        `The process (pid ${owner}) starting the embedded PostgreSQL died; start again.`,
      );
    if (Date.now() > deadline)
      throw new Error(
        `The embedded PostgreSQL started by pid ${owner} did not accept connections in ${timeoutMs / 1000} s.`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function ensureDatabaseExists(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name}"`).catch((error: { code?: string }) => {
        // Created meanwhile by another process: 42P04, or 23505 when both inserted the catalog row
        // at once.
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

export interface OpenDatabaseOptions {
  /** DATABASE_URL, DATABASE_DIRECT_URL and EMBEDDED_POSTGRES_PORT, as read at start. */
  settings: Pick<DatabaseSettings, 'DATABASE_URL' | 'EMBEDDED_POSTGRES_PORT'> &
    Partial<Pick<DatabaseSettings, 'DATABASE_DIRECT_URL'>>;
  /** The data folder (`dataDir(DATA_DIR)`): the embedded server lives in its `postgres/`. */
  dataDir: string;
  logger?: Logger;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenDatabase> {
  const { settings } = options;
  const logger = options.logger ?? silentLogger;
  const migrate = options.migrate ?? true;

  if (settings.DATABASE_URL) {
    const migrationUrl = settings.DATABASE_DIRECT_URL ?? settings.DATABASE_URL;
    const variable = settings.DATABASE_DIRECT_URL ? 'DATABASE_DIRECT_URL' : 'DATABASE_URL';
    if (migrate)
      await migrateDatabase(migrationUrl, { logger }).catch((error: unknown) => {
        throw connectionFailure(error, variable, migrationUrl);
      });
    return {
      url: settings.DATABASE_URL,
      migrationUrl,
      ownsServer: false,
      embedded: false,
      stop: async () => {},
    };
  }

  const root = embeddedDataFolder(options.dataDir);
  const ownerFile = join(options.dataDir, 'postgres.owner');
  const port = settings.EMBEDDED_POSTGRES_PORT;
  // Read (or made) before anyone starts the server: the owner and the processes sharing it agree.
  const password = encodeURIComponent(embeddedPassword(root));
  const adminUrl = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  const url = `postgresql://postgres:${password}@127.0.0.1:${port}/${EMBEDDED_DATABASE}`;

  // One process of a checkout starts the server; the others (the apps under `pnpm dev`, a
  // migrate run beside them) share it. Ownership is claimed by creating the owner file exclusively.
  for (;;) {
    if (claimOwnership(ownerFile)) break;
    const owner = Number(readFileSync(ownerFile, 'utf8'));
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      logger.info({ port, owner }, 'using the embedded PostgreSQL started by another process');
      await waitUntilConnectable(adminUrl, owner);
      await ensureDatabaseExists(adminUrl, EMBEDDED_DATABASE);
      if (migrate) await migrateDatabase(url, { logger });
      return { url, migrationUrl: url, ownsServer: false, embedded: true, stop: async () => {} };
    }
    rmSync(ownerFile, { force: true }); // its owner died: claim it again
  }

  const releaseOwnership = () => rmSync(ownerFile, { force: true });
  let server;
  try {
    server = await startEmbeddedPostgres({ dataDir: root, port, logger });
  } catch (error) {
    releaseOwnership();
    throw error;
  }
  const stop = async () => {
    await server.stop();
    releaseOwnership();
  };
  try {
    await ensureDatabaseExists(adminUrl, EMBEDDED_DATABASE);
    if (migrate) await migrateDatabase(url, { logger });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, migrationUrl: url, ownsServer: true, embedded: true, stop };
}

/** Where the embedded PostgreSQL of a DATA_DIR keeps its data (and its postmaster.pid). */
export function embeddedDataFolder(dataDir: string): string {
  return join(dataDir, 'postgres');
}
