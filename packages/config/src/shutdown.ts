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
