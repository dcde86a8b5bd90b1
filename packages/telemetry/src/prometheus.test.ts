import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardExpressions } from './dashboard.ts';
import { freePort } from '@dagbag/config/testing/free-port';
import {
  prometheusAvailable,
  startPrometheus,
  type PrometheusHarness,
} from './testing/prometheus.ts';

const FIXTURE = fileURLToPath(new URL('./testing/fixture-app.ts', import.meta.url));
const hasPrometheus = prometheusAvailable();
if (!hasPrometheus)
  // eslint-disable-next-line no-console -- a skipped check must be visible in the test output
  console.warn(
    'prometheus is not installed (apt-get install prometheus): skipping the live dashboard check',
  );

interface Fixture {
  child: ChildProcess;
  ready: { metricsUrl: string; pgPatched?: boolean };
  stop(): Promise<void>;
}

/** Runs testing/fixture-app.ts the way the apps run (node + tsx), until it reports ready. */
export async function startFixture(env: Record<string, string>): Promise<Fixture> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<Fixture['ready']>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    // Starting takes about a second; the whole parallel `pnpm test` on 2 cores has made it 15 s and
    // more.
    const timer = setTimeout(
      () => reject(new Error('fixture app did not report ready in 45 s')),
      45_000,
    );
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as Fixture['ready']);
    });
    child.once('exit', (code) => reject(new Error(`fixture app exited with ${code}`)));
  });
  return {
    child,
    ready,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('the dashboard against a real Prometheus', () => {
  if (!hasPrometheus) {
    // The test command installs it (scripts/run.sh test); a missing binary fails, never skips.
    throw new Error(
      'prometheus is not installed: apt-get install prometheus (./scripts/run.sh test installs it)',
    );
  }
  let fixture: Fixture | undefined;
  let prometheus: PrometheusHarness | undefined;

  beforeAll(async () => {
    const port = await freePort();
    fixture = await startFixture({ FIXTURE_METRICS_PORT: String(port) });
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`] });
    // rate() needs two samples in its window.
    await prometheus.waitForScrapes(3, 30_000);
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await fixture?.stop();
  });

  it.each(dashboardExpressions().map(({ panel, expr }) => [panel, expr]))(
    '%s returns data: %s',
    async (_panel, expr) => {
      const samples = await prometheus!.query(expr);
      expect(samples.length).toBeGreaterThan(0);
      for (const sample of samples)
        expect(Number.isNaN(Number(sample.value[1])), JSON.stringify(sample)).toBe(false);
    },
  );

  it('sees both cache roles in the hit ratio', async () => {
    const [ratio] = dashboardExpressions().filter(({ panel }) => panel === 'Hit ratio per role');
    const samples = await prometheus!.query(ratio!.expr);
    expect(samples.map((s) => s.metric.dagbag_role).sort()).toEqual(['api', 'scheduler']);
    for (const sample of samples) expect(Number(sample.value[1])).toBeGreaterThan(0.5);
  });
});

describe('instrumentation of modules imported after startTelemetry', () => {
  it('patches pg in a process started like the apps', async () => {
    const app = await startFixture({
      FIXTURE_METRICS_PORT: String(await freePort()),
      FIXTURE_IMPORT_PG: '1',
    });
    await app.stop();
    expect(app.ready.pgPatched).toBe(true);
  }, 60_000);
});
