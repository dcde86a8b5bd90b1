/**
 * Schedulers as real child processes (`src/main.ts`), for the HA tests: separate processes,
 * separate pools, killable with real signals.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx, type TsxChild } from '@dagbag/config/testing/spawn-tsx';

export { freePort };

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type ChildScheduler = TsxChild;

export async function spawnScheduler(env: Record<string, string>): Promise<ChildScheduler> {
  const metricsPort = await freePort();
  return spawnTsx('src/main.ts', {
    cwd: APP_DIR,
    env: {
      LOG_LEVEL: 'info',
      METRICS_PORT: String(metricsPort),
      OTEL_SDK_DISABLED: 'false',
      ...env,
    },
  });
}
