/**
 * Schedulers as real child processes (`src/main.ts`), for the HA tests: separate processes, separate
 * pools, killable with real signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@dagbag/config/testing/free-port';

export { freePort };

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');


export interface ChildScheduler {
  process: ChildProcess;
  /** Everything it printed (JSON log lines), for failure messages. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnScheduler(env: Record<string, string>): Promise<ChildScheduler> {
  const metricsPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: APP_DIR,
    env: { ...process.env, VITEST: '', LOG_LEVEL: 'info', METRICS_PORT: String(metricsPort), OTEL_SDK_DISABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, output: () => output, exited };
}
