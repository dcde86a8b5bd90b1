import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { freePort } from '@dagbag/config/testing/free-port';

/** dev.ts with `env`; stopped (SIGTERM, as Ctrl-C) if still running after `stopAfterMs`. */
function runDev(
  env: Record<string, string>,
  stopAfterMs?: number,
): Promise<{ code: number | null; output: string }> {
  const { LOG_FORMAT: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [join(repoRoot(), 'scripts', 'dev.ts')], {
    cwd: repoRoot(),
    env: { ...inherited, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer =
    stopAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), stopAfterMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

describe("pnpm dev's own log lines", () => {
  it("are readable lines like the apps', not JSON, when LOG_FORMAT is unset", async () => {
    // A bad setting stops dev.ts before it starts anything: its one line is the fatal one.
    const { code, output } = await runDev({ EMBEDDED_POSTGRES_PORT: '80' });
    expect(code).toBe(2);
    expect(output).toContain('EMBEDDED_POSTGRES_PORT: must be a whole number from 1024 to 65535');
    expect(output).toMatch(/FATAL/);
    expect(output.trimStart()).not.toMatch(/^\{/);
    // One line naming the fix, no stack trace.
    expect(output.trim().split('\n')).toHaveLength(1);
    expect(output).toContain('Fix: set EMBEDDED_POSTGRES_PORT to an accepted value');
  });

  it("stop pnpm dev on an app's bad setting before anything starts, one line per variable", async () => {
    // Before, the database and both apps started; the scheduler stopped on its setting and its
    // watch mode waited for a file change, while pnpm dev and the API ran on.
    // Its own folder and ports: the previous dev.ts started everything before the apps failed.
    const dataDir = await mkdtemp(join(tmpdir(), 'dagbag-dev-bad-'));
    const { code, output } = await runDev(
      {
        SCHEDULER_PARALLELISM: '0',
        API_BODY_MAX_DEPTH: '0',
        DATA_DIR: dataDir,
        EMBEDDED_POSTGRES_PORT: String(await freePort()),
        API_PORT: String(await freePort()),
        API_METRICS_PORT: String(await freePort()),
        SCHEDULER_METRICS_PORT: String(await freePort()),
      },
      20_000,
    );
    await rm(dataDir, { recursive: true, force: true });
    expect(code).toBe(2);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(output).toContain('API_BODY_MAX_DEPTH: must be a whole number from 1 to 256; got "0"');
    expect(output).toContain(
      'SCHEDULER_PARALLELISM: must be a whole number from 1 to 4096; got "0"',
    );
  });

  it('stay JSON when LOG_FORMAT=json', async () => {
    const { output } = await runDev({ EMBEDDED_POSTGRES_PORT: '80', LOG_FORMAT: 'json' });
    expect(output.trimStart()).toMatch(/^\{"level":60/);
  });
});
