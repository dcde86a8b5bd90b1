import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { freePort } from '@dagbag/config/testing/free-port';

/** Processes whose environment or command line mentions `marker` (our DATA_DIR). */
async function processesMentioning(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const texts = await Promise.all(
      ['environ', 'cmdline'].map((file) =>
        readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => ''),
      ),
    );
    if (texts.some((text) => text.includes(marker))) found.push(pid);
  }
  return found;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let dataDir = '';
afterAll(async () => {
  for (const pid of await processesMentioning(dataDir)) process.kill(pid, 'SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('pnpm dev', () => {
  it('brings up PostgreSQL, migrations, the seed and both apps, and Ctrl-C leaves no process behind', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dagbag-dev-'));
    await chmod(dataDir, 0o755);
    const apiPort = await freePort();
    const dev = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot(), 'scripts', 'dev.ts')],
      {
        cwd: repoRoot(),
        detached: true, // its own process group, like a terminal's foreground job
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          VITEST: undefined,
          DATABASE_URL: undefined,
          DATA_DIR: dataDir,
          EMBEDDED_POSTGRES_PORT: String(await freePort()),
          API_PORT: String(apiPort),
          API_AUTH_TOKENS: 'dev-test-token',
          LOG_FORMAT: 'json',
          LOG_LEVEL: 'info',
        },
      },
    );
    let output = '';
    dev.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    dev.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      dev.once('exit', (code) => resolve(code)),
    );

    const dags = await waitFor(
      'the API to list the seeded DAGs',
      async () => {
        const response = await fetch(`http://127.0.0.1:${apiPort}/api/v2/dags`, {
          headers: { authorization: 'Bearer dev-test-token' },
        });
        const body = (await response.json()) as { total_entries: number };
        return response.ok && body.total_entries > 0 ? body : undefined;
      },
      120_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- pnpm dev output ---\n${output.slice(-4000)}`);
    });
    expect(dags.total_entries).toBeGreaterThan(0);
    expect(await processesMentioning(dataDir)).not.toHaveLength(0);

    process.kill(-dev.pid!, 'SIGINT'); // what Ctrl-C sends to the terminal's foreground group
    expect(await exited).toBe(0);
    const leftovers = await waitFor(
      'every process to exit',
      async () => {
        const pids = await processesMentioning(dataDir);
        return pids.length === 0 ? pids : undefined;
      },
      20_000,
    );
    expect(leftovers).toEqual([]);
  }, 180_000);
});
