import { constants } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { realPathInside } from '@dagbag/dagbag';
import { ApiError } from './errors.ts';

/**
 * Bytes returned per request unless `full_content` is asked for; the token pages through the rest.
 */
export const LOG_PAGE_BYTES = 1024 * 1024;
/** Even `full_content` stops here: a runaway log must not take the server's memory. */
export const LOG_MAX_BYTES = 16 * 1024 * 1024;

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
 * Open errors that mean "this try has no log file" (it never wrote one, or its path cannot exist).
 */
const NO_LOG_ERRNOS = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'EISDIR', 'EINVAL']);

/**
 * The end of the last whole UTF-8 character in `buffer[0, end)`: a cut there splits no character.
 */
function utf8Boundary(buffer: Buffer, end: number): number {
  let cut = end;
  // Step back over continuation bytes (10xxxxxx) to the lead byte of the last character.
  while (cut > 0 && cut > end - 4 && (buffer[cut - 1]! & 0xc0) === 0x80) cut--;
  if (cut === 0) return end;
  const lead = buffer[cut - 1]!;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return end - (cut - 1) >= length ? end : cut - 1;
}

/**
 * Opens a try's log for reading, if it is what the executor writes: a plain file, really inside
 * `logsRoot`. Tasks run as the scheduler's user and can replace their log, or a folder above it,
 * with a link: followed, the API (on another host, or with other files than the scheduler) would
 * serve any file it can read to any client. So the last link is not followed (O_NOFOLLOW), the
 * opened file's real path (Linux: /proc/self/fd) must lie inside the real root, and a named pipe
 * is not waited on (O_NONBLOCK; it would hold a thread of the pool for good). Undefined: no log.
 */
async function openLogFile(
  logsRoot: string,
  path: string,
): Promise<{ handle: FileHandle } | { refused: string } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (NO_LOG_ERRNOS.has(code)) return undefined;
    if (code === 'ELOOP') return { refused: 'the log file is a symbolic link' };
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      return { refused: 'the log is not a plain file' };
    }
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => realpath(path));
    if (!(await realPathInside(logsRoot, real))) {
      await handle.close();
      return {
        refused: 'the log file lies outside the logs folder (a folder on its way is a link)',
      };
    }
    return { handle };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Reads a page of a log file from `offset`: whole lines only, at least `pageBytes` worth unless the
 * file ends first. A line longer than the page is returned whole, up to `maxLineBytes`; only a
 * line longer than that is cut, and then between characters, never inside one. A missing file (or
 * one whose path cannot exist) is an empty log; so is one that `openLogFile` refuses, with the
 * reason in `refused`. `atEnd`: the page reaches the end of the file.
 */
export async function readLogPage(
  logsRoot: string,
  path: string,
  offset: number,
  pageBytes: number,
  maxLineBytes: number = LOG_MAX_BYTES,
): Promise<{ lines: string[]; nextOffset: number; atEnd: boolean; refused?: string }> {
  const opened = await openLogFile(logsRoot, path);
  if (opened === undefined) return { lines: [], nextOffset: offset, atEnd: true };
  if ('refused' in opened)
    return { lines: [], nextOffset: offset, atEnd: true, refused: opened.refused };
  const { handle } = opened;
  try {
    const { size } = await handle.stat();
    const start = Math.min(offset, size);
    let length = Math.min(size - start, pageBytes);
    let buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, start);
    let usable = length;
    if (start + length < size) {
      let lastNewline = buffer.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        // One line longer than the page: read on to its end rather than split it.
        const longest = Math.min(size - start, Math.max(maxLineBytes, pageBytes));
        const longer = Buffer.alloc(longest);
        buffer.copy(longer);
        await handle.read(longer, length, longest - length, start + length);
        buffer = longer;
        length = longest;
        const newline = buffer.indexOf(0x0a, 0);
        lastNewline = newline;
      }
      if (lastNewline >= 0) usable = lastNewline + 1;
      else if (start + length < size) usable = utf8Boundary(buffer, length);
    }
    const text = buffer.subarray(0, usable).toString('utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return { lines, nextOffset: start + usable, atEnd: start + usable >= size };
  } finally {
    await handle.close();
  }
}

/**
 * Whether a try's log can still grow (Airflow's `end_of_log` is the opposite): only the current
 * try of a queued, running (or deferred) instance writes to it. Queued too: the executor writes a
 * try's first line before it marks the try running, and the try number counts from queueing.
 */
export function tryMayStillLog(
  ti: { tryNumber: number; state: string | null },
  tryNumber: number,
): boolean {
  return ti.tryNumber === tryNumber && LOGGING_STATES.has(ti.state);
}

const LOGGING_STATES = new Set<string | null>(['queued', 'running', 'deferred']);

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
