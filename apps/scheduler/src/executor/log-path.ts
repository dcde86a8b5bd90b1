/**
 * Where a try's log lives: `<logsRoot>/<dag_id>/<run_id>/<task_id>/<try_number>.log`. Ids come
 * from DAG files and API clients, so each is checked to be one plain path segment and the result
 * to stay inside `logsRoot` (the API validates the same way before it serves a file).
 */
import { join, resolve, sep } from 'node:path';
import { IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH } from '@dagbag/dagbag';

export class UnsafeLogPathError extends Error {
  override readonly name = 'UnsafeLogPathError';
}

/** Run ids may hold `:`, `+` and the like (`manual__2026-01-01T00:00:00+00:00`) but never a path. */
function isSafeSegment(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= MAX_IDENTIFIER_LENGTH &&
    value !== '.' &&
    value !== '..' &&
    // separators and control characters (NUL included) never belong in a file name of ours
    !/[/\\\u0000-\u001f]/.test(value)
  );
}

export function taskLogPath(
  logsRoot: string,
  ids: { dagId: string; runId: string; taskId: string; tryNumber: number },
): string {
  if (!IDENTIFIER_PATTERN.test(ids.dagId) || ids.dagId.length > MAX_IDENTIFIER_LENGTH)
    throw new UnsafeLogPathError(`unsafe dag_id ${JSON.stringify(ids.dagId)}`);
  if (!IDENTIFIER_PATTERN.test(ids.taskId) || ids.taskId.length > MAX_IDENTIFIER_LENGTH)
    throw new UnsafeLogPathError(`unsafe task_id ${JSON.stringify(ids.taskId)}`);
  if (!isSafeSegment(ids.runId))
    throw new UnsafeLogPathError(`unsafe run_id ${JSON.stringify(ids.runId)}`);
  if (!Number.isSafeInteger(ids.tryNumber) || ids.tryNumber < 1)
    throw new UnsafeLogPathError(`bad try_number ${ids.tryNumber}`);
  const root = resolve(logsRoot);
  const path = resolve(join(root, ids.dagId, ids.runId, ids.taskId, `${ids.tryNumber}.log`));
  if (!path.startsWith(root + sep)) throw new UnsafeLogPathError(`log path escapes ${root}`);
  return path;
}
