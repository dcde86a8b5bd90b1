import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Every module URL that importing `entry` (a file path) resolves, in a fresh Node process with
 * tsx: what an app loads before its `main` gets to start telemetry (modules loaded then stay
 * unpatched by the instrumentations).
 */
export async function modulesLoadedBy(entry: string): Promise<string[]> {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = new Set();
    registerHooks({
      resolve(specifier, context, next) {
        const result = next(specifier, context);
        loaded.add(result.url);
        return result;
      },
    });
    await import(${JSON.stringify(pathToFileURL(entry).href)});
    process.stdout.write(JSON.stringify([...loaded]));`;
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { env: { ...process.env, VITEST: '' }, maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as string[];
}
