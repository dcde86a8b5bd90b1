/**
 * The API as its own process (src/main.ts), for the tests of what only a real process shows: its
 * start line, its database settings, its telemetry, its notifications.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx, type TsxChild } from '@dagbag/config/testing/spawn-tsx';

/** The API's start line ("REST API listening"): where it serves, and every setting in effect. */
export interface ApiStartLine {
  url: string;
  settings: Record<string, unknown>;
}

export interface ApiProcess {
  child: TsxChild;
  url: string;
  metricsUrl: string;
  startLine: ApiStartLine;
}

/**
 * Starts the API with `env` over JSON logs at level info, any free port for the API and one for
 * its metrics (unless `env` names them), and resolves once it has written its start line. If it
 * exits first or does not listen within `timeoutMs`, rejects with its output (and stops it).
 */
export async function startApiProcess(
  env: Record<string, string>,
  timeoutMs = 90_000,
): Promise<ApiProcess> {
  const metricsPort = env.METRICS_PORT ?? String(await freePort());
  const child = spawnTsx('src/main.ts', {
    cwd: join(import.meta.dirname, '..', '..'),
    env: {
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      API_PORT: '0',
      ...env,
      METRICS_PORT: metricsPort,
    },
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = child
      .output()
      .split('\n')
      .find((l) => l.includes('REST API listening'));
    if (line) {
      const startLine = JSON.parse(line) as ApiStartLine;
      const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      return { child, url: startLine.url, metricsUrl, startLine };
    }
    if (child.process.exitCode !== null || Date.now() > deadline) {
      child.process.kill('SIGKILL');
      throw new Error(`the API did not start:\n${child.output()}`);
    }
    await sleep(50);
  }
}
