/**
 * What a failed query says about the database, whoever asks (the API answers 503 or 400 by it).
 * Prisma's driver adapter wraps pg's errors several times, so every layer of the cause chain is
 * looked at: its code, SQLSTATE, kind and text.
 */

/** SQLSTATE classes and codes that mean "the database is not there right now", not "bad query". */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down)
  '53300', // too_many_connections
  '55000', // object_not_in_prerequisite_state: "database ... is not currently accepting connections"
  '3D000', // database does not exist (dropped or not yet created)
  '57014', // query_canceled: DATABASE_STATEMENT_TIMEOUT_MS hit, an overloaded database (retry later)
]);
const UNAVAILABLE_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'DatabaseDoesNotExist',
]);
const UNAVAILABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  'EHOSTUNREACH',
]);
// P2028: a transaction could not start in time, or outlived its timeout (an overloaded database).
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);
const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /not currently accepting connections/i,
  /terminating connection/i,
  /Connection terminated unexpectedly/i,
  /Client has encountered a connection error/i,
  /server closed the connection/i,
  /cannot use a pool after calling end/i,
  /connect ECONNREFUSED/i,
];

interface ErrorLayer {
  code?: unknown;
  kind?: unknown;
  originalCode?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: unknown };
}

/** The error and every error it wraps (`cause`, Prisma's `meta.driverAdapterError`), once each. */
function* layers(error: unknown): Generator<ErrorLayer> {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const layer = current as ErrorLayer;
    yield layer;
    current = layer.cause ?? layer.meta?.driverAdapterError;
  }
}

/** Whether an error (or any error in its cause chain) says the database is unreachable. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (const layer of layers(error)) if (saysUnavailable(layer)) return true;
  return false;
}

/**
 * Why the database is unavailable, in one line: the code and message of the innermost error in
 * the chain that says so (the driver's, not Prisma's multi-line wrapper). For logs, where an
 * outage's every request would otherwise repeat a stack trace. Undefined when the error is not
 * about availability.
 */
export function databaseUnavailableReason(
  error: unknown,
): { message: string; code?: string } | undefined {
  let innermost: ErrorLayer | undefined;
  for (const layer of layers(error)) if (saysUnavailable(layer)) innermost = layer;
  if (innermost === undefined) return undefined;
  const code = [innermost.originalCode, innermost.code, innermost.kind].find(
    (candidate): candidate is string => typeof candidate === 'string',
  );
  const text = typeof innermost.message === 'string' ? innermost.message : (code ?? 'unknown');
  const message = text.replace(/\s+/g, ' ').trim();
  return code === undefined ? { message } : { message, code };
}

/**
 * SQLSTATE class 08, connection exception: the connection failed or could not be made. PgBouncer
 * also answers with it (08P01) while it cannot reach the server ("server login has been failing,
 * try again later", "pgbouncer cannot connect to server", "query_wait_timeout").
 */
const CONNECTION_EXCEPTION = /^08[0-9A-Z]{3}$/;

/** A SQLSTATE that says the database cannot serve now: one of the list, or class 08. */
function unavailableSqlstate(code: unknown): boolean {
  return (
    typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || CONNECTION_EXCEPTION.test(code))
  );
}

function saysUnavailable(layer: ErrorLayer): boolean {
  if (unavailableSqlstate(layer.code) || unavailableSqlstate(layer.originalCode)) return true;
  if (
    typeof layer.code === 'string' &&
    (UNAVAILABLE_ERRNOS.has(layer.code) || UNAVAILABLE_PRISMA_CODES.has(layer.code))
  )
    return true;
  if (typeof layer.kind === 'string' && UNAVAILABLE_KINDS.has(layer.kind)) return true;
  if (layer.name === 'PrismaClientInitializationError') return true;
  const message = layer.message;
  return (
    typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))
  );
}

/**
 * SQLSTATE class 22 (data exception) anywhere in the cause chain: PostgreSQL refused a value (out
 * of range, bad encoding...), so the input was at fault, not the database.
 */
export function isDataException(error: unknown): boolean {
  for (const layer of layers(error))
    for (const code of [layer.code, layer.originalCode])
      if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return true;
  return false;
}

/** SQLSTATEs after which PostgreSQL asks the client to run the transaction again. */
const CONFLICT_SQLSTATES = new Set([
  '40P01', // deadlock_detected: this transaction was chosen to break a lock cycle
  '40001', // serialization_failure
]);

/**
 * A deadlock or serialization failure anywhere in the cause chain: the transaction was rolled
 * back whole and may simply run again.
 */
export function isTransactionConflict(error: unknown): boolean {
  for (const layer of layers(error))
    for (const code of [layer.code, layer.originalCode])
      if (typeof code === 'string' && CONFLICT_SQLSTATES.has(code)) return true;
  return false;
}

/** Why a connection was refused for good: wrong credentials or database, not an outage. */
const CONNECT_HINTS: Record<string, string> = {
  '28P01': 'check the user name and password in it',
  '28000': "check the user name in it and the server's pg_hba.conf",
  '3D000': 'create that database (CREATE DATABASE ...) or correct its name',
  ENOTFOUND: 'check the host name in it',
};

/**
 * The first connection of a process (its migrations at start, `pnpm db:migrate`) failed: an
 * error naming the variable, the server and database, the driver's reason and what to check,
 * rather than the bare "connect ECONNREFUSED 127.0.0.1:5433" an operator had to place. Errors
 * that are not about connecting come back unchanged.
 */
export function connectionFailure(error: unknown, variable: string, url: string): unknown {
  let code: string | undefined;
  for (const layer of layers(error))
    if (typeof layer.code === 'string' && (CONNECT_HINTS[layer.code] || !code)) code = layer.code;
  const hint =
    (code !== undefined ? CONNECT_HINTS[code] : undefined) ??
    (isDatabaseUnavailable(error)
      ? 'is PostgreSQL running there, and reachable from here?'
      : undefined);
  if (hint === undefined) return error;
  let server = 'unreadable URL';
  try {
    const parsed = new URL(url);
    server = `${parsed.hostname || 'local socket'}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    // the driver read it; say no more than the variable
  }
  const reason = databaseUnavailableReason(error)?.message ?? (error as Error).message;
  return new Error(
    `cannot connect to the PostgreSQL of ${variable} (${server}): ${reason}; ${hint}`,
    {
      cause: error,
    },
  );
}
