import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

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
 * LOG_FORMAT=pretty (what `pnpm dev` sets) prints readable lines instead, synchronously, so
 * nothing is lost when the process exits.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
  const config: LoggerOptions = {
    name: options.name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (options.destination) return pino(config, options.destination);
  if (process.env.LOG_FORMAT === 'pretty') {
    return pino(
      config,
      pretty({ sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
    );
  }
  return pino(config);
}

/** A logger that drops everything: the default for library objects given none. */
export const silentLogger: Logger = pino({ level: 'silent' });
