/**
 * How both apps (and `pnpm dev`) stop: the first SIGINT, SIGTERM or SIGHUP runs `stop` once and
 * exits 0 (1 if stopping failed); a second signal forces a fast stop (`force`, then exit 130).
 *
 * Ctrl-C in a terminal can reach a process twice within milliseconds: once as a member of the
 * foreground process group and once forwarded by its parent (`node --watch`, turbo, pnpm). Signals
 * within `sameSignalMs` of the first are that same Ctrl-C, not a second one.
 */
export interface ShutdownLogger {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface ShutdownOptions {
  /** What a second signal does before the process exits with 130 (default: nothing more). */
  force?: () => void | Promise<void>;
  sameSignalMs?: number;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let registered = false;

export function onShutdown(
  logger: ShutdownLogger,
  stop: (signal: NodeJS.Signals) => Promise<void>,
  options: ShutdownOptions = {},
): void {
  if (registered) throw new Error('onShutdown: the signal handlers are already registered');
  registered = true;
  const sameSignalMs = options.sameSignalMs ?? 500;
  let firstAt: number | undefined;
  const handle = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      logger.info({ signal }, 'stopping (a second Ctrl-C stops at once)');
      stop(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'stopping failed');
          process.exit(1);
        },
      );
      return;
    }
    if (Date.now() - firstAt < sameSignalMs) return;
    logger.info({ signal }, 'second signal: stopping at once');
    void Promise.resolve(options.force?.()).finally(() => process.exit(130));
  };
  for (const signal of SIGNALS) process.on(signal, handle);
}

/**
 * Starts an app with its signal handlers already registered, so that a signal while it starts
 * (opening or migrating an embedded PostgreSQL it owns, say) does not end the process and leave
 * what it started running: the stop waits for `start` to settle, then `stop` gets what it made
 * (undefined if it failed). `start` may ask `stopping()` to go no further, and must itself undo
 * what it made before it fails. Resolves with what `start` made, or undefined when a stop came
 * first (the stop then exits the process).
 */
export async function startUntilStopped<T>(
  logger: ShutdownLogger,
  start: (stopping: () => boolean) => Promise<T>,
  stop: (started: T | undefined) => Promise<void>,
  options: ShutdownOptions = {},
): Promise<T | undefined> {
  let stopping = false;
  let started: T | undefined;
  const starting = start(() => stopping).then((value) => (started = value));
  onShutdown(
    logger,
    async () => {
      stopping = true;
      await starting.catch(() => undefined);
      await stop(started);
    },
    options,
  );
  try {
    const value = await starting;
    return stopping ? undefined : value;
  } catch (error) {
    if (stopping) return undefined; // stopped while starting: the stop reports and exits
    throw error;
  }
}
