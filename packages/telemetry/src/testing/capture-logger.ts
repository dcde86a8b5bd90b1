import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@dagbag/logger';

/** A logger whose JSON lines are kept in memory, for asserting on what was logged. */
export function captureLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      raw.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ name: 'test', level: 'debug', destination });
  return {
    logger,
    lines: () =>
      raw
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
