/**
 * Which files of a DAGs folder are DAG files, and how their problems are printed (processor and
 * CLI).
 */
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { DagProblem } from './document.ts';

const DAG_FILE = /\.(json|ya?ml)$/i;

/**
 * The bundle every DAG of DAGS_FOLDER belongs to: Airflow 3's name for its DAGs-folder bundle,
 * answered as `bundle_name` by the API (DAGs, versions, import errors) and stored with import
 * errors by the processor.
 */
export const DAGS_FOLDER_BUNDLE = 'dags-folder';

/** Every DAG file under `folder` (recursive, hidden files and folders skipped), sorted by path. */
export async function listDagFiles(folder: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(folder, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter(
      (entry) => DAG_FILE.test(entry) && !entry.split(sep).some((part) => part.startsWith('.')),
    )
    .map((entry) => join(folder, entry))
    .sort();
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
