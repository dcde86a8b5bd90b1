import { open } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ApiError } from './errors.ts';

/** Bytes returned per request unless `full_content` is asked for; the token pages through the rest. */
export const LOG_PAGE_BYTES = 1024 * 1024;
/** Even `full_content` stops here: a runaway log must not take the server's memory. */
export const LOG_MAX_BYTES = 16 * 1024 * 1024;

/**
 * One id as a single path segment: anything that could name another folder (separators, `.`/`..`,
 * NUL, control characters) is refused before a path is built.
 */
function safeSegment(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (value === '.' || value === '..' || /[/\\\u0000-\u001f]/.test(value) || value.length > 250) {
    throw new ApiError('BAD_REQUEST', `Invalid ${what}`);
  }
  return value;
}

/** `<logsDir>/<dag_id>/<run_id>/<task_id>/<try_number>.log`, proven to stay inside logsDir. */
export function taskLogPath(
  logsDir: string,
  ids: { dagId: string; runId: string; taskId: string; tryNumber: number },
): string {
  const root = resolve(logsDir);
  const path = resolve(
    join(
      root,
      safeSegment(ids.dagId, 'dag_id'),
      safeSegment(ids.runId, 'dag_run_id'),
      safeSegment(ids.taskId, 'task_id'),
      `${ids.tryNumber}.log`,
    ),
  );
  if (!path.startsWith(root + sep)) throw new ApiError('BAD_REQUEST', 'Invalid log path');
  return path;
}

/** Continuation tokens are opaque to clients: base64url of the byte offset to read from. */
export function encodeToken(offset: number): string {
  return Buffer.from(`o:${offset}`, 'utf8').toString('base64url');
}

export function decodeToken(token: string): number {
  const match = /^o:(\d{1,15})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match)
    throw ApiError.validation([
      { loc: ['query', 'token'], msg: 'Invalid continuation token', type: 'value_error' },
    ]);
  return Number(match[1]);
}

/**
 * Reads a page of a log file from `offset`. A missing file is an empty log (the try may not have
 * written anything yet). Returns whole lines only, and the offset to continue from.
 */
export async function readLogPage(
  path: string,
  offset: number,
  maxBytes: number,
): Promise<{ lines: string[]; nextOffset: number }> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code === 'ENOENT' ||
      (error as NodeJS.ErrnoException).code === 'ENOTDIR'
    ) {
      return { lines: [], nextOffset: offset };
    }
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.min(offset, size);
    const length = Math.min(size - start, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, start);
    // Stop at the last newline unless this is the end of the file, so no line is cut in two.
    let usable = length;
    if (start + length < size) {
      const lastNewline = buffer.lastIndexOf(0x0a);
      if (lastNewline >= 0) usable = lastNewline + 1;
    }
    const text = buffer.subarray(0, usable).toString('utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return { lines, nextOffset: start + usable };
  } finally {
    await handle.close();
  }
}

const STAMPED_LINE = /^\[(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)\] ?(.*)$/;

/**
 * One log line as Airflow's StructuredLogMessage: the scheduler's executor writes
 * `[<ISO timestamp>] message` lines (and the task's own output verbatim), so a leading
 * timestamp becomes `timestamp` and the rest `event`.
 */
export function structuredLogMessage(line: string): { timestamp?: string; event: string } {
  const match = STAMPED_LINE.exec(line);
  return match ? { timestamp: match[1]!, event: match[2]! } : { event: line };
}
