import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../index.ts';

/** One log line as a test reads it: pino's JSON, parsed. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/**
 * A logger whose JSON lines are kept, parsed, in `lines` (in the order written), for tests that
 * assert on what a component logs.
 */
export function recordingLogger<Line = LogLine>(
  options: { name?: string; level?: string } = {},
): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  const logger = createLogger({
    name: options.name ?? 'test',
    level: options.level ?? 'info',
    destination,
  });
  return { logger, lines };
}
