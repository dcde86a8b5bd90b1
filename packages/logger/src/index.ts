import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Secrets never reach a log line, whatever path they take into a logged object. */
export const REDACTED_PATHS = [
  'authorization',
  'token',
  'password',
  'req.headers.authorization',
  'headers.authorization',
  'config.API_AUTH_TOKENS',
  'API_AUTH_TOKENS',
  'DATABASE_URL',
  'connectionString',
];

export interface CreateLoggerOptions {
  /** Component name, shown as `name` on every line. */
  name: string;
  level?: string;
  destination?: DestinationStream;
}

/**
 * JSON lines on stdout; LOG_LEVEL sets the level (default info, `silent` in tests unless set).
 * Human-readable output is left to `pino-pretty` in a pipe, so the process never pays for it.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const level =
    options.level ?? process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
  const config: LoggerOptions = {
    name: options.name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that drops everything: the default for library objects given none. */
export const silentLogger: Logger = pino({ level: 'silent' });
