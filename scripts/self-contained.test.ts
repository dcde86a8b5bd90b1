import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

const run = promisify(execFile);
const pnpm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['pnpm'];

let parent = '';
afterAll(() => rm(parent, { recursive: true, force: true }));

describe('the repository is self-contained', () => {
  it("a copy of the tracked files alone, with no sibling folders, passes the API's Airflow conformance tests", async () => {
    parent = await mkdtemp(join(tmpdir(), 'dagbag-clone-'));
    // Reachable by the `postgres` user when the tests run as root: the embedded server's binaries
    // live in this copy's node_modules.
    await chmod(parent, 0o755);
    const copy = join(parent, 'dagbag');
    const { stdout } = await run('git', ['ls-files', '-z', '--cached'], { cwd: repoRoot() });
    for (const file of stdout.split('\0').filter(Boolean)) {
      const source = join(repoRoot(), file);
      if (!existsSync(source)) continue; // deleted in the working tree, not yet committed
      await mkdir(dirname(join(copy, file)), { recursive: true });
      await cp(source, join(copy, file), { verbatimSymlinks: true });
    }
    expect(await readdir(parent)).toEqual(['dagbag']);

    const [command, ...prefix] = pnpm as [string, ...string[]];
    const env = { ...process.env, VITEST: undefined, FORCE_COLOR: '0', NO_COLOR: '1' };
    await run(command, [...prefix, 'install', '--frozen-lockfile', '--offline'], {
      cwd: copy,
      env,
    });
    const tests = await run(
      command,
      [
        ...prefix,
        '--filter',
        '@dagbag/api',
        'exec',
        'vitest',
        'run',
        'src/airflow-schemas.test.ts',
        'src/openapi.test.ts',
      ],
      { cwd: copy, env },
    ).catch((error: { stdout?: string; stderr?: string }) => error);
    const output = `${tests.stdout}${tests.stderr}`;
    expect(output, output).toMatch(/Test Files +2 passed/);
  }, 600_000);
});
