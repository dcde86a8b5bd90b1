/**
 * A real PgBouncer in transaction mode (Debian's `pgbouncer`, which the test command installs) in
 * front of a test database: the set-up README.md documents for poolers. Each transaction may run
 * on another server connection than the one before, and session state (a prepared statement, a
 * session-level advisory lock, LISTEN) stays on the server connection it was made on.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@dagbag/config/testing/free-port';
import { createPrismaClient } from '../client.ts';
import { defaultDatabaseSettings } from '../settings.ts';

export interface PgBouncer {
  /** The database's URL through the pooler. */
  url: string;
  /** Its working folder (configuration, log). */
  workDir: string;
  stop(): void;
}

function pgbouncerBinary(): string {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next
    }
  }
  throw new Error(
    'pgbouncer is not installed: the test command installs it as root on Debian/Ubuntu ' +
      '(apt-get install pgbouncer)',
  );
}

async function listening(url: string, deadline: number): Promise<void> {
  for (;;) {
    const probe = createPrismaClient({
      url,
      applicationName: 'pgbouncer-probe',
      settings: { ...defaultDatabaseSettings(), DATABASE_PREPARED_STATEMENTS: 'off' },
    });
    try {
      await probe.$queryRawUnsafe('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await probe.$disconnect().catch(() => undefined);
    }
  }
}

/**
 * Starts PgBouncer (`pool_mode = transaction`, `poolSize` server connections per database) in
 * front of the server of `databaseUrl`; resolves once it answers.
 */
export async function startPgBouncer(
  databaseUrl: string,
  options: { poolSize: number },
): Promise<PgBouncer> {
  const server = new URL(databaseUrl);
  const port = await freePort();
  const workDir = mkdtempSync(join(tmpdir(), 'dagbag-pgbouncer-'));
  // PgBouncer refuses to run as root; as `nobody` it must be able to write its log here.
  chmodSync(workDir, 0o777);
  const ini = join(workDir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port} user=${decodeURIComponent(server.username)} password=${decodeURIComponent(server.password)}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize}`,
      // The client sends the statement timeout at start-up; PgBouncer cannot pass it on.
      'ignore_startup_parameters = extra_float_digits,statement_timeout',
      `logfile = ${join(workDir, 'pgbouncer.log')}`,
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  const bouncer = spawn(pgbouncerBinary(), [...(asRoot ? ['-u', 'nobody'] : []), ini], {
    stdio: 'ignore',
  });
  const url = `postgresql://pooled:unused@127.0.0.1:${port}${server.pathname}`;
  const stop = () => {
    bouncer.kill();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    await listening(url, Date.now() + 10_000);
  } catch (error) {
    stop();
    throw error;
  }
  return { url, workDir, stop };
}
