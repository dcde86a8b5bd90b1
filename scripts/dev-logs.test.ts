import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

function runDev(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const { LOG_FORMAT: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [join(repoRoot(), 'scripts', 'dev.ts')], {
    cwd: repoRoot(),
    env: { ...inherited, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
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

  it('stay JSON when LOG_FORMAT=json', async () => {
    const { output } = await runDev({ EMBEDDED_POSTGRES_PORT: '80', LOG_FORMAT: 'json' });
    expect(output.trimStart()).toMatch(/^\{"level":60/);
  });
});
