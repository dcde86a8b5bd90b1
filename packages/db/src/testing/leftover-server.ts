/**
 * For tests of a process that starts the embedded PostgreSQL of a DATA_DIR and must stop it
 * again: whether that server still runs after the process ended, and a stop for one it left.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { embeddedDataFolder } from '../database.ts';

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(embeddedDataFolder(dataDir), 'postmaster.pid'), 'utf8').catch(
    () => '',
  );
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a PostgreSQL process serves the embedded data of `dataDir` (its postmaster.pid). */
export async function embeddedServerRunningIn(dataDir: string): Promise<boolean> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A server the code under test left behind must not outlive the test (immediate shutdown). */
export async function stopEmbeddedServerIn(dataDir: string): Promise<void> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch {
    // gone
  }
}
