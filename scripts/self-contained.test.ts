import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { freePort } from '@dagbag/config/testing/free-port';

const run = promisify(execFile);
const [pnpm, ...pnpmArgs] = (
  process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['pnpm']
) as [string, ...string[]];
const env = { ...process.env, VITEST: undefined, FORCE_COLOR: '0', NO_COLOR: '1' };

// A copy of the tracked files in a private folder (mktemp: mode 0700) that holds nothing else:
// no sibling folders to read, and, as root, a checkout the `postgres` user cannot enter.
let parent = '';
let copy = '';
/** Folders outside the copy that the embedded PostgreSQL was moved to (logged by `pnpm dev`). */
const relocated = new Set<string>();

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'dagbag-clone-'));
  copy = join(parent, 'dagbag');
  const { stdout } = await run('git', ['ls-files', '-z', '--cached'], { cwd: repoRoot() });
  for (const file of stdout.split('\0').filter(Boolean)) {
    const source = join(repoRoot(), file);
    if (!existsSync(source)) continue; // deleted in the working tree, not yet committed
    await mkdir(dirname(join(copy, file)), { recursive: true });
    await cp(source, join(copy, file), { verbatimSymlinks: true });
  }
  await run(pnpm, [...pnpmArgs, 'install', '--frozen-lockfile', '--offline'], { cwd: copy, env });
}, 300_000);

afterAll(async () => {
  for (const dir of relocated) await rm(dir, { recursive: true, force: true });
  await rm(parent, { recursive: true, force: true });
});

describe('a checkout alone in a private folder', () => {
  it('is private and has no sibling folders', async () => {
    expect((await stat(parent)).mode & 0o777).toBe(0o700);
    expect(await readdir(parent)).toEqual(['dagbag']);
  });

  it('starts with pnpm dev (as root too), answers, and stops on Ctrl-C with exit code 0', async () => {
    const apiPort = await freePort();
    const dev = spawn(pnpm, [...pnpmArgs, 'dev'], {
      cwd: copy,
      detached: true, // its own process group, like a terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...env,
        DATABASE_URL: undefined,
        DATA_DIR: undefined,
        EMBEDDED_POSTGRES_PORT: String(await freePort()),
        API_PORT: String(apiPort),
        // The apps keep their metrics ports, on a loopback address nobody else listens on.
        METRICS_HOST: '127.77.0.1',
        LOG_FORMAT: 'json',
      },
    });
    let output = '';
    dev.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    dev.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
    let health: unknown;
    const deadline = Date.now() + 150_000;
    while (health === undefined && Date.now() < deadline && dev.exitCode === null) {
      health = await fetch(`http://127.0.0.1:${apiPort}/api/v2/monitor/health`)
        .then((response) => (response.ok ? response.json() : undefined))
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    for (const match of output.matchAll(/"(?:binaries|dataDir)":"(\/[^"]*dagbag-postgres-[^/"]+)/g))
      relocated.add(match[1]!);
    expect(health, output.slice(-4000)).toMatchObject({ metadatabase: { status: 'healthy' } });
    process.kill(-dev.pid!, 'SIGINT');
    expect(await exited, output.slice(-4000)).toBe(0);
    expect(output).not.toMatch(/EACCES|ELIFECYCLE/);
  }, 200_000);

  it("passes the API's Airflow conformance tests", async () => {
    const tests = await run(
      pnpm,
      [
        ...pnpmArgs,
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
  }, 300_000);
});
