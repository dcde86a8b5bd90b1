/**
 * `dagbag dags validate FILE|DIR...`: the processor's checks, locally and without a database: the
 * document schema (parseDagSource) per file, read as the processor reads it (readDagFile), and one
 * dag_id per file among the files given.
 */
import { stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import {
  duplicateDagIdProblem,
  formatProblems,
  listDagFiles,
  parseDagSource,
  readDagFile,
  type DagProblem,
} from '@dagbag/dagbag';

export interface FileReport {
  /** The path as printed: as given, or joined to the folder given. */
  file: string;
  dagId: string | null;
  problems: DagProblem[];
  /** What the processor accepts but likely does not do what was meant (exit code unchanged). */
  warnings: DagProblem[];
}

/** Jinja as Airflow renders it in a bash_command: `{{ ds }}`, `{{ params.x }}`. */
const TEMPLATE = /\{\{[^{}]*\}\}/;

interface Candidate {
  file: string;
  path: string;
  /** Names of other files are given relative to this folder (the folder argument, else cwd). */
  base: string;
}

export async function validateDagFiles(
  args: readonly string[],
  cwd: string,
): Promise<FileReport[]> {
  const candidates: Candidate[] = [];
  for (const arg of args) {
    const path = resolve(cwd, arg);
    let isDirectory = false;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch {
      // Missing: reported below as the processor would report an unreadable file.
    }
    if (isDirectory) {
      for (const found of await listDagFiles(path))
        candidates.push({ file: join(arg, relative(path, found)), path: found, base: path });
    } else {
      candidates.push({ file: arg, path, base: cwd });
    }
  }

  const reports: FileReport[] = [];
  const owners = new Map<string, Candidate>();
  for (const candidate of candidates) {
    const report: FileReport = { file: candidate.file, dagId: null, problems: [], warnings: [] };
    reports.push(report);
    const read = await readDagFile(candidate.path);
    if (!read.ok) {
      report.problems.push(...read.errors);
      continue;
    }
    const parsed = parseDagSource(read.text, candidate.path);
    if (!parsed.ok) {
      report.problems.push(...parsed.errors);
      continue;
    }
    const dagId = parsed.document.dag_id;
    report.dagId = dagId;
    parsed.document.tasks.forEach((task, index) => {
      const template = task.bash_command && TEMPLATE.exec(task.bash_command);
      if (template)
        report.warnings.push({
          reason: `tasks[${index}].bash_command: ${template[0]} is Airflow templating, which dagbag does not render (bash gets it as written); use the AIRFLOW_CTX_* variables, e.g. $AIRFLOW_CTX_LOGICAL_DATE, and $DAG_RUN_CONF (JSON) for the run's conf`,
          path: `tasks[${index}].bash_command`,
          taskId: task.task_id,
        });
    });
    // As the processor: the first file in order keeps a dag_id, the others are import errors.
    const owner = owners.get(dagId);
    if (owner)
      report.problems.push(duplicateDagIdProblem(dagId, relative(candidate.base, owner.path)));
    else owners.set(dagId, candidate);
  }
  return reports;
}

export function reportLines(reports: readonly FileReport[]): string[] {
  return reports
    .filter((report) => report.problems.length > 0)
    .map((report) => formatProblems(report.file, report.problems));
}

/** dag_ids that several of the files define, with how many. */
export function sharedDagIds(reports: readonly FileReport[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const report of reports)
    if (report.dagId !== null) counts.set(report.dagId, (counts.get(report.dagId) ?? 0) + 1);
  return new Map([...counts].filter(([, count]) => count > 1));
}

/** `file: warning: reason`, one line per warning. */
export function warningLines(reports: readonly FileReport[]): string[] {
  return reports.flatMap((report) =>
    report.warnings.map((warning) => `${report.file}: warning: ${warning.reason}`),
  );
}
