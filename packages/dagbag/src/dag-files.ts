/**
 * Which files of a DAGs folder are DAG files, and how their problems are printed (processor and
 * CLI).
 */
import type { Stats } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { MAX_SOURCE_BYTES, type DagProblem } from './document.ts';

const DAG_FILE = /\.(json|ya?ml)$/i;

/**
 * The bundle every DAG of DAGS_FOLDER belongs to: Airflow 3's name for its DAGs-folder bundle,
 * answered as `bundle_name` by the API (DAGs, versions, import errors) and stored with import
 * errors by the processor.
 */
export const DAGS_FOLDER_BUNDLE = 'dags-folder';

/**
 * Every DAG file under `folder` (recursive, hidden files and folders skipped), sorted by path.
 * Links to folders are followed, as Airflow follows them, but each real folder is walked once, and
 * one inside `folder` only by its own path: a link back up (`ln -s . again`) made Node's recursive
 * readdir list every file once per level down to ELOOP, and two such links 2^40 times, so that the
 * processor never finished a pass. (Airflow stops with "Detected recursive loop".)
 */
export async function listDagFiles(folder: string): Promise<string[]> {
  let root: string;
  try {
    root = await realpath(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: string[] = [];
  const walked = new Set<string>([root]);
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (DAG_FILE.test(entry.name)) files.push(path);
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isSymbolicLink()) {
        const real = await realpath(path).catch(() => undefined);
        if (real === undefined || walked.has(real) || real.startsWith(root + sep)) continue;
        if (!(await stat(real)).isDirectory()) continue;
        walked.add(real);
        await walk(path);
      }
    }
  };
  await walk(folder);
  return files.sort();
}

/** `file.json:3:7: reason`, one line per problem: what the API shows as the stack trace. */
export function formatProblems(filename: string, problems: readonly DagProblem[]): string {
  return problems
    .map((problem) => {
      const at =
        problem.line !== undefined
          ? `:${problem.line}${problem.column !== undefined ? `:${problem.column}` : ''}`
          : '';
      return `${filename}${at}: ${problem.reason}`;
    })
    .join('\n');
}

/** The import error of a file whose dag_id another file (`owner`, as it should be named) holds. */
export function duplicateDagIdProblem(dagId: string, owner: string): DagProblem {
  return { reason: `dag_id ${JSON.stringify(dagId)} is already defined in ${owner}` };
}

// ---------------------------------------------------------------------------------------------
// Reading one DAG file (the processor and `dagbag dags validate`): its size is checked before
// anything is read, and its bytes must be UTF-8.

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
