/**
 * Where a try's log lives: `<logsRoot>/<dag_id>/<run_id>/<task_id>/<try_number>.log`. The one
 * rule the scheduler's executor writes by, the API reads and deletes by, and the demo seed follows.
 * Ids come from DAG files and API clients, so each must be what the id rules allow (DAG and task
 * ids: IDENTIFIER_PATTERN; run ids: runIdProblem) and the result must stay inside `logsRoot`.
 */
import { join, resolve, sep } from 'node:path';
import { IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH } from './document.ts';
import { runIdProblem } from './run-id.ts';

export class UnsafeLogPathError extends Error {
  override readonly name = 'UnsafeLogPathError';
}

export interface RunLogIds {
  dagId: string;
  runId: string;
}

export interface TryLogIds extends RunLogIds {
  taskId: string;
  tryNumber: number;
}

function checkIdentifier(value: string, field: 'dag_id' | 'task_id'): string {
  if (!IDENTIFIER_PATTERN.test(value) || value.length > MAX_IDENTIFIER_LENGTH)
    throw new UnsafeLogPathError(
      `Invalid ${field} ${JSON.stringify(value)}: it must be 1 to ${MAX_IDENTIFIER_LENGTH} letters, digits, '_', '.' or '-'`,
    );
  if (value === '.' || value === '..')
    throw new UnsafeLogPathError(`Invalid ${field} ${JSON.stringify(value)}`);
  return value;
}

function inside(root: string, path: string): string {
  if (!path.startsWith(root + sep)) throw new UnsafeLogPathError(`The log path leaves ${root}`);
  return path;
}

/** `<logsRoot>/<dag_id>/<run_id>`: every try of every task of one run. */
export function runLogDir(logsRoot: string, ids: RunLogIds): string {
  const problem = runIdProblem(ids.runId);
  if (problem) throw new UnsafeLogPathError(`Invalid dag_run_id: ${problem}`);
  const root = resolve(logsRoot);
  return inside(root, resolve(join(root, checkIdentifier(ids.dagId, 'dag_id'), ids.runId)));
}

/** `<logsRoot>/<dag_id>/<run_id>/<task_id>/<try_number>.log`, proven to stay inside logsRoot. */
export function taskLogPath(logsRoot: string, ids: TryLogIds): string {
  if (!Number.isSafeInteger(ids.tryNumber) || ids.tryNumber < 1)
    throw new UnsafeLogPathError(`Invalid try_number ${ids.tryNumber}: it must be 1 or more`);
  const runDir = runLogDir(logsRoot, ids);
  return inside(
    resolve(logsRoot),
    resolve(join(runDir, checkIdentifier(ids.taskId, 'task_id'), `${ids.tryNumber}.log`)),
  );
}
