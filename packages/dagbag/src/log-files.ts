/**
 * Removing task logs by the one path rule (`log-path.ts`): what the API does for a deleted run or
 * DAG and `pnpm db:clean` for the runs it deletes. Never anything outside the logs folder.
 */
import { realpath, rm, stat } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import { runLogDir, type RunLogIds } from './log-path.ts';

/** Whether `path` (made real) is `root` (made real) or inside it. */
export async function realPathInside(root: string, path: string): Promise<boolean> {
  const realRoot = await realpath(root);
  return path === realRoot || path.startsWith(realRoot + sep);
}

/**
 * The run's log folder (`runLogDir`) when its parent really is inside the logs folder; undefined
 * for an id that cannot be a folder, or for a run folder under a linked DAG folder (it lies
 * elsewhere and is left alone, as is anything else outside the logs folder).
 */
async function ownRunLogDir(logsRoot: string, ids: RunLogIds): Promise<string | undefined> {
  let dir: string;
  try {
    dir = runLogDir(logsRoot, ids);
  } catch {
    return undefined; // an id that cannot be a folder has no logs
  }
  const parent = await realpath(dirname(dir)).catch(() => undefined);
  if (parent === undefined || !(await realPathInside(logsRoot, parent))) return undefined;
  return dir;
}

/** Whether the run has a log folder that `removeRunLogs` would remove (a dry run's count). */
export async function runLogsPresent(logsRoot: string, ids: RunLogIds): Promise<boolean> {
  const dir = await ownRunLogDir(logsRoot, ids);
  if (dir === undefined) return false;
  return (await stat(dir).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Removes a run's logs (`runLogDir`: every try of every task of the run), so that a run re-created
 * under the same id does not show the old one's output and a deleted run leaves no files behind.
 * True when there was a folder to remove; a run that never logged, or whose folder is not its own
 * (see `ownRunLogDir`), has nothing to remove.
 */
export async function removeRunLogs(logsRoot: string, ids: RunLogIds): Promise<boolean> {
  const dir = await ownRunLogDir(logsRoot, ids);
  if (dir === undefined) return false;
  try {
    await rm(dir, { recursive: true });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
