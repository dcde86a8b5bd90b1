import { spawn } from 'node:child_process';
import { chmod, readdir, readFile, stat, utimes } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

/** Every .js/.mjs file of a package (its real folder in pnpm's store). */
async function packageFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(m?js)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * `pnpm dev` runs each app's `dev` script under node's watch mode. pnpm hard-links every
 * dependency file from one store shared by every checkout on the machine, so another checkout's
 * `pnpm install` changes the link count (an inotify attribute event) of files this app imported:
 * with plain `--watch` both apps restarted, mid-run, whenever any project was installed.
 */
describe.each([
  ['api', { API_PORT: 'not-a-port' }],
  ['scheduler', { SCHEDULER_PARALLELISM: '0' }],
])('the %s dev script', (app, badSetting) => {
  it('restarts when its sources change, not when a dependency file in the shared store is touched', async () => {
    const appDir = join(repoRoot(), 'apps', app);
    const manifest = JSON.parse(await readFile(join(appDir, 'package.json'), 'utf8')) as {
      scripts: { dev: string };
    };
    // A bad setting: main.ts imports everything, then stops at once; watch mode waits for changes.
    const child = spawn('sh', ['-c', `exec ${manifest.scripts.dev}`], {
      cwd: appDir,
      env: { ...process.env, ...badSetting, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const waitFor = async (text: RegExp, count: number) => {
      const deadline = Date.now() + 30_000;
      while ((output.match(text) ?? []).length < count) {
        if (Date.now() > deadline) throw new Error(`no ${String(text)} ×${count} in:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    try {
      await waitFor(/Waiting for file changes/g, 1);

      // zod, imported by both apps (through @dagbag/config): same mode, so only an attribute event.
      const zod = dirname(
        createRequire(join(repoRoot(), 'packages', 'config', 'package.json')).resolve(
          'zod/package.json',
        ),
      );
      for (const file of await packageFiles(zod)) await chmod(file, (await stat(file)).mode);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(output).not.toMatch(/Restarting/);

      const main = join(appDir, 'src', 'main.ts');
      const now = new Date();
      await utimes(main, now, now);
      await waitFor(/Restarting/g, 1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
