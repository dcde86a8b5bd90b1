import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionalStringSetting } from './env.ts';

let cachedRoot: string | undefined;

/** The repository root: the nearest folder above this package holding pnpm-workspace.yaml. */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('repoRoot: no pnpm-workspace.yaml above ' + import.meta.url);
    dir = parent;
  }
  cachedRoot = dir;
  return dir;
}

/** The example DAGs shipped in `dags/`: the default DAGS_FOLDER, and all the demo seed touches. */
export function exampleDagsFolder(): string {
  return join(repoRoot(), 'dags');
}

/** The settings every process of a checkout shares; apps add them to their own shape. */
export const SHARED_SETTINGS = {
  DATA_DIR: optionalStringSetting({
    default: '`.data/`',
    accepted: 'a folder; a relative one from where the command was started',
    path: true,
    description: 'embedded PostgreSQL data, task logs, the development API token',
  }),
};

/**
 * Where state lives (embedded PostgreSQL, task logs, the dev token): the DATA_DIR setting, read
 * by the app's `main` and passed here, resolved against the working directory; else `.data/` at
 * the repository root.
 */
export function dataDir(configured?: string): string {
  return configured ? resolve(configured) : join(repoRoot(), '.data');
}
