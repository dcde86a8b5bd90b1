import { createHash } from 'node:crypto';
import { metrics, type Meter } from '@opentelemetry/api';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.ts';
import { observePool } from './pool-metrics.ts';
import type { DatabaseSettings } from './settings.ts';

export { PrismaClient };
export type { Prisma } from './generated/prisma/client.ts';

export interface ClientOptions {
  url: string;
  /**
   * The pool's size and timeouts, as the app read them at start (`defaultDatabaseSettings()` in
   * tests).
   */
  settings: Pick<
    DatabaseSettings,
    | 'DATABASE_POOL_MAX'
    | 'DATABASE_CONNECT_TIMEOUT_MS'
    | 'DATABASE_IDLE_TIMEOUT_MS'
    | 'DATABASE_STATEMENT_TIMEOUT_MS'
  > &
    Partial<Pick<DatabaseSettings, 'DATABASE_PREPARED_STATEMENTS'>>;
  /** Shown in pg_stat_activity, so operators can tell the api from the scheduler. */
  applicationName: string;
  /**
   * Where the pool's `db.client.connection.*` metrics go; default the global MeterProvider's
   * (a no-op until an SDK is registered).
   */
  meter?: Meter;
}

/**
 * Statements whose text starts with this comment are prepared once per connection (a named
 * statement: parsed and planned once, then only bound and executed); every other is sent unnamed,
 * as Prisma sends it. For hot reads whose text has few variants (each variant is one statement
 * per pooled connection, freed when the connection closes). With DATABASE_PREPARED_STATEMENTS=off
 * none is: behind a pooler in transaction mode the next query may run on another server
 * connection, where the statement "does not exist" or "already exists" (pgbouncer.test.ts).
 */
export const PREPARED = '/* prepared */';

/**
 * The most distinct PREPARED texts one client prepares; further ones are sent unnamed. A prepared
 * statement stays on its server connection (a backend's memory, and node-postgres's list of the
 * connection's statements) until that connection closes, which a pool kept busy never does, and
 * the text of GET /dags varies with its filters and its `order_by` (up to 10 keys of 18 each):
 * a client paging through sort orders prepared a new statement on every connection for each one.
 */
export const MAX_PREPARED_STATEMENTS = 100;

function preparedName(sql: string, known: Set<string>): string | undefined {
  if (!sql.startsWith(PREPARED)) return undefined;
  if (!known.has(sql)) {
    if (known.size >= MAX_PREPARED_STATEMENTS) return undefined;
    known.add(sql);
  }
  return `dagbag_${createHash('sha1').update(sql).digest('base64url')}`;
}

/**
 * A Prisma client over node-postgres (`@prisma/adapter-pg`), its pool sized and timed by
 * `settings`.
 */
export function createPrismaClient(options: ClientOptions): PrismaClient {
  const { settings } = options;
  const prepared = settings.DATABASE_PREPARED_STATEMENTS !== 'off';
  const target = poolNameOptions(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    // What the URL says already (pg reads it from there): repeated for the pg instrumentation,
    // which names the pool of its spans from these options only.
    ...target,
    max: settings.DATABASE_POOL_MAX,
    connectionTimeoutMillis: settings.DATABASE_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: settings.DATABASE_IDLE_TIMEOUT_MS,
    // Sent as a startup parameter: the server cancels a statement running longer
    // (SQLSTATE 57014).
    statement_timeout: settings.DATABASE_STATEMENT_TIMEOUT_MS || undefined,
    application_name: options.applicationName,
  });
  // An idle connection that fails (the server restarted) leaves the pool, and the next query
  // connects anew; without a listener its 'error' would end the process. Prisma's adapter adds
  // one only once Prisma first connects, and readRows may use the pool before that.
  pool.on('error', ignoreIdleClientError);
  observePool(
    options.meter ?? metrics.getMeter('@dagbag/db'),
    pool,
    `${target.host ?? 'localhost'}:${target.port ?? 5432}/${target.database ?? ''}`,
  );
  /** The PREPARED texts this client prepares (bounded: MAX_PREPARED_STATEMENTS). */
  const preparedTexts = new Set<string>();
  const adapter = new PrismaPg(pool, {
    // An unnamed statement where there is no name (the adapter's type says string).
    statementNameGenerator: (query) =>
      (prepared ? preparedName(query.sql, preparedTexts) : undefined) as string,
    // The client's pool: $disconnect ends it.
    disposeExternalPool: true,
  });
  return withPool(
    new PrismaClient({ adapter, transactionOptions: transactionOptions(settings) }),
    pool,
    prepared,
  );
}

/**
 * Host, port and database of a postgresql:// URL: `db.client.connection.pool.name` is
 * `host:port/database` (the pg instrumentation's spans read them from the pool's options).
 */
export function poolNameOptions(url: string): { host?: string; port?: number; database?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return {};
  }
  const database = decodeURIComponent(parsed.pathname.slice(1));
  return {
    ...(parsed.hostname ? { host: decodeURIComponent(parsed.hostname) } : {}),
    // Only what the URL gives: an absent one stays pg's to fill (PGPORT, or 5432).
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    ...(database ? { database } : {}),
  };
}

const pools = new WeakMap<PrismaClient, { pool: pg.Pool; prepared: boolean }>();

const connections = new WeakMap<PrismaClient, Promise<void>>();

/**
 * Prisma's adapter takes the pool over when Prisma first connects (from then on `$disconnect`
 * ends it): a read through the pool may be a process's first, so it makes sure of that first.
 */
function adapterConnected(prisma: PrismaClient): Promise<void> {
  let connected = connections.get(prisma);
  if (connected === undefined) {
    connected = prisma.$connect().catch((error: unknown) => {
      connections.delete(prisma);
      throw error;
    });
    connections.set(prisma, connected);
  }
  return connected;
}

/** For a pool's 'error' event: the failed idle connection is already out of the pool. */
function ignoreIdleClientError(): void {}

/**
 * Remembers the pg pool under `prisma` (see poolOf), and whether readRows may prepare statements
 * on it; returns `prisma`.
 */
function withPool(prisma: PrismaClient, pool: pg.Pool, prepared: boolean): PrismaClient {
  pools.set(prisma, { pool, prepared });
  return prisma;
}

/**
 * The pg pool a client made here (createPrismaClient, the tests' recording client) sends its
 * statements through, for the few hot reads that skip Prisma's own layers (`readRows`).
 */
export function poolOf(prisma: PrismaClient): pg.Pool | undefined {
  return pools.get(prisma)?.pool;
}

/**
 * Rows of one statement (`$1`-style parameters) through the client's pg pool, as a named
 * statement (prepared once per connection; unnamed with DATABASE_PREPARED_STATEMENTS=off), or
 * through `$queryRawUnsafe` for a client made elsewhere. For the DAG cache's miss: Prisma's
 * `$queryRaw` cost ~0.1-0.3 ms of CPU per query on top of pg's (its request pipeline, tracing and
 * a copy of every row; apps/api/bench/RESULTS.md), as much as the rest of the read. Errors are
 * pg's own, which the error classification reads (`isDatabaseUnavailable`).
 */
export async function readRows<T>(
  prisma: PrismaClient,
  statement: { name: string; text: string },
  values: unknown[],
): Promise<T[]> {
  const held = pools.get(prisma);
  if (held === undefined) return prisma.$queryRawUnsafe<T[]>(statement.text, ...values);
  await adapterConnected(prisma);
  const query = held.prepared ? { ...statement, values } : { text: statement.text, values };
  const result = await held.pool.query<T & pg.QueryResultRow>(query);
  return result.rows;
}

/**
 * How long an interactive transaction may wait for a pooled connection and stay open. Prisma's own
 * defaults (2 s, 5 s) are shorter than the pool's: a burst of concurrent writes then failed with
 * P2028 after 2 s in the queue while the pool would have served them. Here the pool's timeout
 * decides (its error answers 503), and a transaction may last as long as one statement may (at
 * least 5 s).
 */
export function transactionOptions(
  settings: Pick<DatabaseSettings, 'DATABASE_CONNECT_TIMEOUT_MS' | 'DATABASE_STATEMENT_TIMEOUT_MS'>,
): { maxWait: number; timeout: number } {
  const statementTimeout = settings.DATABASE_STATEMENT_TIMEOUT_MS;
  return {
    maxWait: settings.DATABASE_CONNECT_TIMEOUT_MS + 1_000,
    timeout:
      statementTimeout === 0
        ? TRANSACTION_TIMEOUT_WITHOUT_LIMIT_MS
        : Math.max(MIN_TRANSACTION_TIMEOUT_MS, statementTimeout),
  };
}

/** Prisma's default: a short statement timeout must not cut transactions of several statements. */
const MIN_TRANSACTION_TIMEOUT_MS = 5_000;
/** With DATABASE_STATEMENT_TIMEOUT_MS=0 (no statement limit), a transaction still ends. */
const TRANSACTION_TIMEOUT_WITHOUT_LIMIT_MS = 3_600_000;
