import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Where state lives (embedded PostgreSQL, task logs, the dev token): DATA_DIR or `.data/`. */
export function dataDir(env: Record<string, string | undefined> = process.env): string {
  return env.DATA_DIR ? resolve(env.DATA_DIR) : join(repoRoot(), '.data');
}
