import type { DiagLogger } from '@opentelemetry/api';
import type { Logger } from '@dagbag/logger';

export interface RateLimitedDiagLoggerOptions {
  /** How long one kind of message stays quiet after it was logged once. */
  quietMs?: number;
  now?: () => number;
}

/**
 * Routes OpenTelemetry's internal diagnostics into the application logger.
 *
 * When the collector is unreachable the SDK reports a failure on every export interval, forever;
 * printing each one would bury the real log. One incident is therefore logged once: messages are
 * grouped by their text with numbers, addresses and quoted details stripped, each group is logged
 * at most once per `quietMs`, and the next line of that group says how many were suppressed.
 * SDK errors are logged as warnings: they mean telemetry is degraded, never that the app failed.
 */
export function createRateLimitedDiagLogger(
  logger: Logger,
  options: RateLimitedDiagLoggerOptions = {},
): DiagLogger {
  const quietMs = options.quietMs ?? 15 * 60_000;
  const now = options.now ?? Date.now;
  const groups = new Map<string, { loggedAt: number; suppressed: number }>();

  function emit(level: 'warn' | 'info' | 'debug' | 'trace', raw: unknown, args: unknown[]) {
    // The SDK sometimes hands over an Error (or its JSON) instead of a message.
    const message = messageOf(raw);
    const key = `${level}:${incidentKey(message)}`;
    const group = groups.get(key);
    const at = now();
    if (group && at - group.loggedAt < quietMs) {
      group.suppressed += 1;
      return;
    }
    const suppressed = group?.suppressed ?? 0;
    groups.set(key, { loggedAt: at, suppressed: 0 });
    const detail = args.map(describe).filter((text) => text.length > 0);
    logger[level](
      {
        component: 'opentelemetry',
        ...(detail.length > 0 ? { detail } : {}),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      message,
    );
  }

  return {
    error: (message, ...args) => emit('warn', message, args),
    warn: (message, ...args) => emit('warn', message, args),
    info: (message, ...args) => emit('info', message, args),
    debug: (message, ...args) => emit('debug', message, args),
    verbose: (message, ...args) => emit('trace', message, args),
  };
}

/**
 * The part of a diagnostic that names the kind of problem, not this occurrence of it. Every
 * failed or timed-out export of one signal is one incident: an unreachable collector shows up
 * as refused connections, then timeouts, then both, and one line says it all.
 */
export function incidentKey(message: string): string {
  if (/export/i.test(message) && /(fail|time|refused|error)/i.test(message)) {
    if (/metric/i.test(message)) return 'export failed: metrics';
    if (/span|trace/i.test(message)) return 'export failed: traces';
    if (/log/i.test(message)) return 'export failed: logs';
  }
  return message
    .replace(/\(.*\)/gs, '()')
    .replace(/"[^"]*"|'[^']*'/g, '""')
    .replace(/[0-9a-f]{8,}|\d+(\.\d+)*/gi, '#')
    .slice(0, 120);
}

function messageOf(raw: unknown): string {
  if (raw instanceof Error) return raw.message;
  if (typeof raw !== 'string') return describe(raw);
  if (raw.startsWith('{"stack"')) {
    try {
      const { message } = JSON.parse(raw) as { message?: unknown };
      return message === undefined ? raw : describe(message);
    } catch {
      return raw;
    }
  }
  return raw.split('\n')[0] ?? raw;
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  try {
    return JSON.stringify(value).slice(0, 500);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
