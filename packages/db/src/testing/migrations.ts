import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRISMA_PATHS } from '../migrate/files.ts';

/**
 * A copy of the migrations folder as a release had it: every migration up to and including
 * `last` (a folder name). Returns the folder and a function that removes it.
 */
export async function migrationsUpTo(
  last: string,
): Promise<{ migrationsDir: string; remove: () => Promise<void> }> {
  const names = (await readdir(PRISMA_PATHS.migrations, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  if (!names.includes(last)) throw new Error(`no migration ${last} in ${PRISMA_PATHS.migrations}`);
  const workDir = await mkdtemp(join(tmpdir(), 'dagbag-migrations-'));
  const migrationsDir = join(workDir, 'migrations');
  await cp(PRISMA_PATHS.migrations, migrationsDir, {
    recursive: true,
    filter: (source) => {
      const [name] = source.slice(PRISMA_PATHS.migrations.length + 1).split('/');
      return name === undefined || name === '' || !/^\d{14}_/.test(name) || name <= last;
    },
  });
  return { migrationsDir, remove: () => rm(workDir, { recursive: true, force: true }) };
}
