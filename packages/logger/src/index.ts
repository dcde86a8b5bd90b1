import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty, { type PrettyOptions } from 'pino-pretty';
import { ConfigError, configProblemLine, stringSetting } from '@dagbag/config';

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

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The logging settings every process reads with its others and hands to `createLogger`. */
export const LOGGER_SETTINGS = {
  LOG_LEVEL: stringSetting({
    default: 'info',
    pattern: new RegExp(`^(${LEVELS.join('|')})$`),
    accepted: LEVELS.join(', '),
    description: 'pino level of the log lines',
  }),
  LOG_FORMAT: stringSetting({
    default: 'json',
    pattern: /^(json|pretty)$/,
    accepted: 'json or pretty',
    description: 'json: one JSON object per line; pretty: readable lines (what `pnpm dev` sets)',
  }),
};

export interface CreateLoggerOptions {
  /** Component name, shown as `name` on every line. */
  name: string;
  /** LOG_LEVEL as the process read it; default info. */
  level?: string;
  /** LOG_FORMAT as the process read it; default json. */
  format?: string;
  destination?: DestinationStream;
  /**
   * Lines to stderr (synchronously), for a command whose stdout is its answer (`pnpm db:clean`'s
   * counts); default stdout.
   */
  stderr?: boolean;
}

/** Lines are written once this many bytes wait, or every `STDOUT_FLUSH_MS` (whichever first). */
export const STDOUT_BUFFER_BYTES = 4096;
export const STDOUT_FLUSH_MS = 100;

let stdout: DestinationStream | undefined;

/**
 * One asynchronous, buffered stdout for every logger of the process (so their lines keep their
 * order): a busy API writes a few kilobytes per system call instead of one call per request line.
 * A line waits at most STDOUT_FLUSH_MS; what is buffered is written synchronously when the process
 * exits (pino registers that for its own destinations), fatal paths included; only a SIGKILL can
 * lose the last few lines.
 */
function bufferedStdout(): DestinationStream {
  if (stdout) return stdout;
  const destination = pino.destination({
    dest: 1,
    sync: false,
    minLength: STDOUT_BUFFER_BYTES,
    // sonic-boom's own timer (unref'd): a quiet process still shows its lines promptly.
    periodicFlush: STDOUT_FLUSH_MS,
  });
  // A stdout whose reader is gone (EPIPE: Ctrl-C also stopped the `tee` or `less` it was piped
  // into) has nobody left to read it: its lines are dropped rather than failing the process, or
  // its shutdown, with an uncaught error (or, on sonic-boom 4, with a flush at exit that retried
  // forever).
  destination.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const flushSync = destination.flushSync.bind(destination);
  destination.flushSync = () => {
    try {
      flushSync();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
    }
  };
  stdout = destination;
  return stdout;
}

/**
 * A request's fields on its one line (`request completed GET /api/v2/dags 200 8 ms`): printed as
 * an object they took ten lines for every request, most of what `pnpm dev` showed under load.
 */
function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const message = typeof log[messageKey] === 'string' ? log[messageKey] : '';
  const req = log.req as { method?: unknown; url?: unknown } | undefined;
  if (req === null || typeof req !== 'object') return message;
  const res = log.res as { statusCode?: unknown } | undefined;
  const parts = [message, req.method, req.url, res?.statusCode];
  if (typeof log.responseTime === 'number') parts.push(`${log.responseTime} ms`);
  return parts.filter((part) => part !== undefined && part !== '').join(' ');
}

/** pino-pretty's options for LOG_FORMAT=pretty (colours aside). */
export const PRETTY_OPTIONS = {
  ignore: 'pid,hostname,req,res,responseTime',
  translateTime: 'HH:MM:ss.l',
  messageFormat: prettyMessage,
} satisfies PrettyOptions;

/**
 * JSON lines on stdout (buffered: `bufferedStdout`; or on stderr, `stderr`) at `level` (default
 * info). `format: 'pretty'` (LOG_FORMAT=pretty, what `pnpm dev` sets) prints readable lines
 * instead, synchronously, so nothing is lost when the process exits. The settings come from the
 * caller: this package reads no environment.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const level = options.level ?? 'info';
  const config: LoggerOptions = {
    name: options.name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (options.destination) return pino(config, options.destination);
  if (options.format === 'pretty') {
    return pino(
      config,
      pretty({
        sync: true,
        colorize: true,
        ...(options.stderr ? { destination: 2 } : {}),
        ...PRETTY_OPTIONS,
      }),
    );
  }
  if (options.stderr) return pino(config, pino.destination({ dest: 2, sync: true }));
  return pino(config, bufferedStdout());
}

/** A logger that drops everything: the default for library objects given none. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Says why the process could not start (`what`: "the API could not start") and returns the exit
 * code to end with. The settings may be what is wrong, LOG_LEVEL and LOG_FORMAT included, so here
 * (and only here) those two are read leniently from `env` (the environment the app's main passes):
 * case and spaces forgiven, an unknown value replaced by its default, `silent` still showing the
 * failure. A user who asked for readable lines (LOG_FORMAT=pretty, `pnpm dev`'s default) reads
 * readable lines.
 *
 * Bad settings (ConfigError): exit code 2, one line per bad variable naming it, what it accepts,
 * what it got and the fix, without a stack. Anything else: exit code 1, the error's message on
 * the line; its stack in JSON lines, and in readable ones at LOG_LEVEL=debug.
 */
export function reportStartFailure(
  name: string,
  what: string,
  error: unknown,
  env: Record<string, string | undefined>,
): number {
  const format = env.LOG_FORMAT?.trim().toLowerCase() === 'pretty' ? 'pretty' : 'json';
  const asked = env.LOG_LEVEL?.trim().toLowerCase() ?? '';
  const level =
    (LEVELS as readonly string[]).includes(asked) && asked !== 'silent' ? asked : 'info';
  const logger = createLogger({ name, format, level });
  if (error instanceof ConfigError) {
    // The variable also as a field for JSON readers; a readable line names it once.
    for (const problem of error.problems)
      logger.fatal(
        format === 'json' ? { variable: problem.variable } : {},
        `${what}: ${configProblemLine(problem)}`,
      );
    return 2;
  }
  const message = `${what}: ${error instanceof Error ? error.message : String(error)}`;
  if (format === 'pretty') {
    logger.fatal(message);
    logger.debug({ err: error }, 'the error in full');
  } else {
    logger.fatal({ err: error }, message);
  }
  return 1;
}
