import { spawn, type ChildProcess } from 'node:child_process';

export interface TsxChild {
  process: ChildProcess;
  /** Everything it printed on stdout and stderr (the last `keepChars` characters when bounded). */
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a TypeScript entry point as its own process (`node --import tsx <entry>`), the way tests
 * run the real apps, with the test runner's marker cleared so the child behaves as in production.
 */
export function spawnTsx(
  entry: string,
  options: { cwd: string; env: Record<string, string>; keepChars?: number },
): TsxChild {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: options.cwd,
    env: { ...process.env, VITEST: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep =
    options.keepChars === undefined
      ? (chunk: Buffer) => void (output += chunk.toString())
      : (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-options.keepChars!));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, output: () => output, exited };
}

/**
 * The timeout of a test that starts an app's process and waits for what it does. Such a start
 * costs about 1.5 s on an idle 2-core machine, but up to 30 s inside the test command, where
 * turbo runs three suites at once and the reliability suite six clusters of processes: the API's
 * start-failure test failed there at 30 s, twice, while it passes in 2 s alone. A hang is still
 * caught.
 */
export const PROCESS_TEST_TIMEOUT_MS = 120_000;
