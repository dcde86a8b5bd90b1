/**
 * The real system for the CLI's tests: a migrated test database, a scheduler and an API started as
 * their own processes (`node --import tsx src/main.ts`) over a DAGs folder of the test's own.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx, type TsxChild } from '@dagbag/config/testing/spawn-tsx';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';

const APPS = fileURLToPath(new URL('../../../', import.meta.url));

export interface TestSystem {
  url: string;
  token: string;
  /** What the CLI needs in its environment to reach this system. */
  env: Record<string, string>;
  dagsFolder: string;
  /** The Prometheus endpoints of the API and the scheduler. */
  metricsUrls: { api: string; scheduler: string };
  /**
   * Stops the API process (SIGTERM, as a watch-mode restart does) and starts another on the same
   * port, `downMs` after the first one exited; resolves when the new one answers.
   */
  restartApi(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startSystem(dags: Record<string, object>): Promise<TestSystem> {
  const db: TestDatabase = await createTestDatabase();
  const workDir = await mkdtemp(join(tmpdir(), 'dagbag-cli-system-'));
  const dagsFolder = join(workDir, 'dags');
  await mkdir(dagsFolder);
  for (const [file, document] of Object.entries(dags))
    await writeFile(join(dagsFolder, file), JSON.stringify(document, null, 2));
  const token = 'cli-test-token-0123456789';
  const port = await freePort();
  const env = {
    DATABASE_URL: db.url,
    DAGS_FOLDER: dagsFolder,
    DATA_DIR: workDir,
    DAG_DIR_SCAN_SECONDS: '1',
    SCHEDULER_LOOP_INTERVAL_MS: '100',
    API_AUTH_TOKENS: token,
    LOG_LEVEL: 'warn',
    OTEL_SDK_DISABLED: 'false',
  };
  const metricsPorts = { api: await freePort(), scheduler: await freePort() };
  const startApi = () =>
    spawnTsx('src/main.ts', {
      cwd: join(APPS, 'api'),
      env: { ...env, API_PORT: String(port), METRICS_PORT: String(metricsPorts.api) },
      keepChars: 20_000,
    });
  const children: TsxChild[] = [
    spawnTsx('src/main.ts', {
      cwd: join(APPS, 'scheduler'),
      env: { ...env, METRICS_PORT: String(metricsPorts.scheduler) },
      keepChars: 20_000,
    }),
    startApi(),
  ];
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    for (const child of children) child.process.kill('SIGTERM');
    await Promise.all(children.map((child) => child.exited));
    await db.drop();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    // Up when the API answers and the processor has stored every DAG file.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const total = await fetch(`${url}/api/v2/dags`, {
        headers: { authorization: `Bearer ${token}` },
      })
        .then(async (response) =>
          response.ok ? ((await response.json()) as { total_entries: number }).total_entries : -1,
        )
        .catch(() => -1);
      if (total === Object.keys(dags).length) break;
      if (Date.now() > deadline)
        throw new Error(
          `the system did not come up:\n${children.map((child) => child.output()).join('\n')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const restartApi = async (downMs: number) => {
    const api = children[1]!;
    api.process.kill('SIGTERM');
    await api.exited;
    await new Promise((resolve) => setTimeout(resolve, downMs));
    children[1] = startApi();
    const deadline = Date.now() + 60_000;
    while (
      !(await fetch(`${url}/api/v2/monitor/health`).then(
        () => true,
        () => false,
      ))
    ) {
      if (Date.now() > deadline)
        throw new Error(`the API did not come back:\n${children[1].output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    url,
    token,
    restartApi,
    env: { DAGBAG_API_URL: url, DAGBAG_API_TOKEN: token },
    dagsFolder,
    metricsUrls: {
      api: `http://127.0.0.1:${metricsPorts.api}/metrics`,
      scheduler: `http://127.0.0.1:${metricsPorts.scheduler}/metrics`,
    },
    stop,
  };
}
