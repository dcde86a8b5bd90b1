/**
 * Reads one DAG file as the processor (and `dagbag dags validate`) must: its size is checked
 * before anything is read, and its bytes must be UTF-8.
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { MAX_SOURCE_BYTES, type DagProblem } from '@dagbag/dagbag';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export type DagFileText = { ok: true; text: string } | { ok: false; errors: DagProblem[] };

/** Line and column (1-based) of the first byte that is not UTF-8. */
function firstInvalidByte(bytes: Buffer): { line: number; column: number; byte: number } {
  const lenient = bytes.toString('utf8');
  const at = lenient.indexOf('\uFFFD');
  const before = lenient.slice(0, Math.max(at, 0));
  const lineStart = before.lastIndexOf('\n') + 1;
  const offset = Buffer.byteLength(before, 'utf8');
  return {
    line: before.split('\n').length,
    column: before.length - lineStart + 1,
    byte: bytes[offset] ?? 0,
  };
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'a device';
}

/**
 * The text of a DAG file, or why it cannot be one. Anything but a plain file (a folder named
 * x.json, a named pipe, a device) is refused without opening it. A file over MAX_SOURCE_BYTES is
 * refused from its size alone: read whole at every scan, a 300 MB data file dropped into
 * DAGS_FOLDER held 280 MB of the scheduler's heap and took it past 1 GB at each scan. Bytes that
 * are not UTF-8 are an error rather than U+FFFD characters stored in the DAG; a UTF-8 byte order
 * mark is dropped (JSON.parse refuses it).
 */
export async function readDagFile(path: string): Promise<DagFileText> {
  try {
    const info = await stat(path);
    // A FIFO named x.json was read forever: the processor never finished a pass again.
    if (!info.isFile())
      return {
        ok: false,
        errors: [{ reason: `not a regular file (${kindOf(info)}); a DAG file is a plain file` }],
      };
    const { size } = info;
    if (size > MAX_SOURCE_BYTES)
      return {
        ok: false,
        errors: [
          { reason: `file is ${size} bytes; a DAG file may be at most ${MAX_SOURCE_BYTES} bytes` },
        ],
      };
    const bytes = await readFile(path);
    try {
      return { ok: true, text: UTF8.decode(bytes) };
    } catch {
      const { line, column, byte } = firstInvalidByte(bytes);
      return {
        ok: false,
        errors: [
          {
            reason: `not UTF-8 text (byte 0x${byte.toString(16).padStart(2, '0')}); save the file as UTF-8`,
            line,
            column,
          },
        ],
      };
    }
  } catch (error) {
    return { ok: false, errors: [{ reason: `cannot read file: ${(error as Error).message}` }] };
  }
}
