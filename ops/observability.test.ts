/**
 * The Grafana dashboard against the real apps: both processes (`apps/api/src/main.ts`,
 * `apps/scheduler/src/main.ts`) on a migrated test database, a small workload through the API,
 * a real Prometheus scraping both `/metrics`, and every PromQL expression of
 * ops/grafana/dashboards/dagbag-cache.json asked through the Prometheus HTTP API. A panel naming
 * a metric the apps do not emit (or emit under another name) returns nothing and fails here.
 *
 * The same processes push OTLP/HTTP (JSON) to a local receiver, which checks the cache metrics
 * arrive with `dagbag.role` under the right `service.name`, and that pg/express spans exist (the
 * instrumentations patched modules the apps load after startTelemetry).
 *
 * PROMQL_REPORT=<file> writes every expression with its result as a Markdown table.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import { dashboardExpressions } from '@dagbag/telemetry/dashboard';
import { freePort } from '@dagbag/config/testing/free-port';
import { spawnTsx } from '@dagbag/config/testing/spawn-tsx';
import { ALL_METRICS, prometheusName } from '@dagbag/metrics';
import {
  attribute,
  dataPoints,
  startOtlpReceiver,
  type OtlpMetric,
  type OtlpReceiver,
} from '@dagbag/telemetry/testing/otlp-receiver';
import {
  prometheusAvailable,
  startPrometheus,
  type PrometheusHarness,
  type PromSample,
} from '@dagbag/telemetry/testing/prometheus';

const TOKEN = 'observability-test-token';
const DAGS = ['observed_a', 'observed_b'] as const;
const root = repoRoot();

interface App {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Starts one app as `node --import tsx <main.ts>` and resolves with the first log line containing
 * `readyMessage`.
 */
async function startApp(
  name: string,
  main: string,
  env: Record<string, string>,
  readyMessage: string,
): Promise<{ app: App; ready: Record<string, unknown> }> {
  // Bounded output: the scheduler logs every run for the whole test.
  const spawned = spawnTsx(main, {
    cwd: root,
    env: { LOG_LEVEL: 'info', ...env },
    keepChars: 200_000,
  });
  const { process: child, output } = spawned;
  const exited = spawned.exited.then(({ code }) => code);
  const app: App = { name, child, output, exited };
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // Generous: starting takes 3 s here, but the whole parallel `pnpm test` has slowed it tenfold.
    const timer = setTimeout(
      () => reject(new Error(`${name}: no "${readyMessage}" line in 45 s:\n${output()}`)),
      45_000,
    );
    const look = () => {
      const line = output()
        .split('\n')
        .find((l) => l.includes(`"msg":"${readyMessage}"`));
      if (line) {
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve(JSON.parse(line) as Record<string, unknown>);
      }
    };
    child.stdout!.on('data', look);
    void exited.then((code) =>
      reject(new Error(`${name} exited with ${code} before "${readyMessage}":\n${output()}`)),
    );
  });
  return { app, ready };
}

function dagFile(dagId: string): string {
  return JSON.stringify({
    dag_id: dagId,
    schedule: null,
    start_date: '2026-01-01T00:00:00Z',
    tasks: [
      { task_id: 'extract', operator: 'bash', bash_command: 'echo extract' },
      { task_id: 'load', operator: 'empty', upstream: ['extract'] },
    ],
  });
}

describe('the DagBag cache dashboard over both real apps', () => {
  if (!prometheusAvailable()) {
    // The test command installs it (scripts/run.sh test); a missing binary fails, never skips.
    throw new Error(
      'prometheus is not installed: apt-get install prometheus (./scripts/run.sh test installs it)',
    );
  }

  let db: TestDatabase | undefined;
  let prometheus: PrometheusHarness | undefined;
  let receiver: OtlpReceiver | undefined;
  const apps: App[] = [];
  const temp: string[] = [];
  let apiUrl = '';
  const metricsUrls: Record<'api' | 'scheduler', string> = { api: '', scheduler: '' };
  const results = new Map<string, PromSample[]>();

  async function api(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set('authorization', `Bearer ${TOKEN}`);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${apiUrl}${path}`, {
      ...rest,
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  }

  async function waitFor(
    what: string,
    check: () => Promise<boolean>,
    timeoutMs = 30_000,
  ): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > until)
        throw new Error(
          `${what}: not within ${timeoutMs} ms\n${apps.map((a) => `--- ${a.name}\n${a.output().slice(-4000)}`).join('\n')}`,
        );
      await sleep(150);
    }
  }

  async function successfulRuns(): Promise<number> {
    const body = (await (await api('/api/v2/dags/~/dagRuns?state=success&limit=1')).json()) as {
      total_entries: number;
    };
    return body.total_entries;
  }

  /**
   * One round of traffic over every route the test uses, ending when its runs have succeeded.
   * Rounds are separated by a scrape: a series first scraped with its final value has a rate of 0,
   * and histogram_quantile of a zero rate is NaN (a gap in Grafana), so every route, and each
   * role's loads (a DAG not looked up before), must increase again after that scrape.
   */
  async function round(dagId: string, runs: number): Promise<void> {
    const before = await successfulRuns();
    for (let i = 0; i < runs; i++) {
      const response = await api(`/api/v2/dags/${dagId}/dagRuns`, {
        method: 'POST',
        json: { logical_date: null },
      });
      expect(response.status, await response.clone().text()).toBe(200);
    }
    // The API's cache: the first lookup of a DAG's version is a miss that loads it, the rest hit.
    for (let i = 0; i < 3; i++)
      expect((await api(`/api/v2/dags/${dagId}/dagVersions/1/structure`)).status).toBe(200);
    const listed = (await (await api(`/api/v2/dags/${dagId}/dagRuns?limit=1`)).json()) as {
      dag_runs: Array<{ dag_run_id: string }>;
    };
    expect(
      (
        await api(
          `/api/v2/dags/${dagId}/dagRuns/${encodeURIComponent(listed.dag_runs[0]!.dag_run_id)}/structure`,
        )
      ).status,
    ).toBe(200);
    expect((await api(`/api/v2/dags/${dagId}`)).status).toBe(200);
    expect((await api('/api/v2/dags/no_such_dag')).status).toBe(404);
    expect((await api('/api/v2/monitor/dagbag')).status).toBe(200);
    expect((await fetch(`${apiUrl}/api/v2/monitor/health`)).status).toBe(200);
    await waitFor(
      `${runs} more runs of ${dagId} succeed`,
      async () => (await successfulRuns()) >= before + runs,
    );
  }

  beforeAll(async () => {
    const started = Date.now();
    db = await createTestDatabase();
    receiver = await startOtlpReceiver();
    const dags = mkdtempSync(join(tmpdir(), 'dagbag-observability-dags-'));
    const data = mkdtempSync(join(tmpdir(), 'dagbag-observability-data-'));
    temp.push(dags, data);
    for (const dagId of DAGS) writeFileSync(join(dags, `${dagId}.json`), dagFile(dagId));
    for (const name of ['api', 'scheduler']) mkdirSync(join(data, name));
    chmodSync(data, 0o755);

    const [apiPort, apiMetricsPort, schedulerMetricsPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    // Prometheus first: every series is scraped from its start, so rate() sees the workload as
    // increase.
    prometheus = await startPrometheus({
      targets: [`127.0.0.1:${apiMetricsPort}`, `127.0.0.1:${schedulerMetricsPort}`],
    });

    const otlp = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    const [apiApp, schedulerApp] = await Promise.all([
      startApp(
        'api',
        'apps/api/src/main.ts',
        {
          ...otlp,
          DATABASE_URL: db.url,
          DATA_DIR: join(data, 'api'),
          API_PORT: String(apiPort),
          API_AUTH_TOKENS: TOKEN,
          METRICS_PORT: String(apiMetricsPort),
        },
        'REST API listening',
      ),
      startApp(
        'scheduler',
        'apps/scheduler/src/main.ts',
        {
          ...otlp,
          DATABASE_URL: db.url,
          DATA_DIR: join(data, 'scheduler'),
          DAGS_FOLDER: dags,
          DAG_DIR_SCAN_SECONDS: '1',
          SCHEDULER_LOOP_INTERVAL_MS: '250',
          SCHEDULER_DAG_CACHE_RECONCILE_SECONDS: '1',
          METRICS_PORT: String(schedulerMetricsPort),
        },
        'scheduler started',
      ),
    ]);
    apps.push(apiApp.app, schedulerApp.app);
    apiUrl = String(apiApp.ready.url);
    metricsUrls.api = `http://127.0.0.1:${apiMetricsPort}/metrics`;
    metricsUrls.scheduler = `http://127.0.0.1:${schedulerMetricsPort}/metrics`;

    for (const dagId of DAGS)
      await waitFor(
        `the scheduler parsed ${dagId}`,
        async () => (await api(`/api/v2/dags/${dagId}`)).status === 200,
      );
    await prometheus.waitForScrapes(2, 30_000);

    await round('observed_a', 2);
    await prometheus.waitForScrapeAfter(Date.now(), 30_000);
    await round('observed_b', 1);
    await round('observed_a', 1);
    await prometheus.waitForScrapeAfter(Date.now(), 30_000);

    for (const { expr } of dashboardExpressions()) results.set(expr, await prometheus.query(expr));
    if (process.env.PROMQL_REPORT)
      writeFileSync(process.env.PROMQL_REPORT, report(results, Date.now() - started));
  }, 120_000);

  afterAll(async () => {
    for (const app of apps)
      if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGKILL');
    await Promise.all(apps.map((app) => app.exited));
    await prometheus?.stop();
    await receiver?.close();
    await db?.drop();
    for (const dir of temp) rmSync(dir, { recursive: true, force: true });
  });

  it.each(dashboardExpressions().map(({ panel, expr }) => [panel, expr]))(
    'panel "%s" shows numbers from the real apps: %s',
    (_panel, expr) => {
      const samples = results.get(expr)!;
      expect(samples.length, expr).toBeGreaterThan(0);
      for (const sample of samples)
        expect(Number.isFinite(Number(sample.value[1])), JSON.stringify(sample)).toBe(true);
    },
  );

  it.each(['api', 'scheduler'] as const)(
    'the %s exposes on /metrics only metrics of the registry (so the README documents each)',
    async (role) => {
      const exposition = await (await fetch(metricsUrls[role])).text();
      const exposed = [...exposition.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!);
      const documented = new Set(
        ALL_METRICS.filter((metric) => metric.emittedBy.includes(role)).map(prometheusName),
      );
      // target_info carries the resource attributes (service.name...), not a measurement.
      const undocumented = exposed.filter(
        (name) => name !== 'target_info' && !documented.has(name),
      );
      expect(exposed.length).toBeGreaterThan(5);
      expect(undocumented).toEqual([]);
    },
  );

  it('a metric name the apps do not emit returns nothing, so such a panel would fail above', async () => {
    expect(await prometheus!.query('sum by (dagbag_role)(rate(dagbag_cache_misses[5m]))')).toEqual(
      [],
    );
    expect(await prometheus!.query('sum by (dagbag_role)(dagbag_cache_weight_bytes)')).toEqual([]);
  });

  it('shows a hit ratio for each role, between 0 and 1 and above 0.5 for the api (three lookups per load)', () => {
    const [ratio] = dashboardExpressions().filter(({ panel }) => panel === 'Hit ratio per role');
    const byRole = Object.fromEntries(
      results.get(ratio!.expr)!.map((s) => [s.metric.dagbag_role, Number(s.value[1])]),
    );
    expect(Object.keys(byRole).sort()).toEqual(['api', 'scheduler']);
    for (const value of Object.values(byRole)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
    expect(byRole.api).toBeGreaterThan(0.5);
  });

  it('draws entries and weight of both roles against their caps: the api has an entry cap, the scheduler only a byte cap', async () => {
    const value = async (expr: string) =>
      Object.fromEntries(
        (await prometheus!.query(expr)).map((s) => [s.metric.dagbag_role, Number(s.value[1])]),
      );
    expect(await value('sum by (dagbag_role)(dagbag_cache_max_entries)')).toEqual({
      api: 4096,
      scheduler: 0,
    });
    expect(await value('sum by (dagbag_role)(dagbag_cache_max_bytes)')).toEqual({
      api: 268_435_456,
      scheduler: 1_073_741_824,
    });
    const entries = await value('sum by (dagbag_role)(dagbag_cache_entries)');
    expect(entries.api).toBe(2);
    const weight = await value('sum by (dagbag_role)(dagbag_cache_weight)');
    expect(weight.api).toBeGreaterThan(0);
  });

  it('has an eviction series for every reason and role from the start', async () => {
    const samples = await prometheus!.query(
      'sum by (dagbag_role, reason)(dagbag_cache_evictions_total)',
    );
    expect(samples.map((s) => `${s.metric.dagbag_role}/${s.metric.reason}`).sort()).toEqual(
      ['api', 'scheduler']
        .flatMap((role) =>
          ['bytes', 'capacity', 'inactive', 'invalidated', 'ttl'].map(
            (reason) => `${role}/${reason}`,
          ),
        )
        .sort(),
    );
  });

  it('counts task instances reaching success and API requests by Express route', async () => {
    const success = await prometheus!.query(
      'sum(dagbag_scheduler_task_instance_state_changes_total{state="success"})',
    );
    // 4 runs of 2 tasks each.
    expect(Number(success[0]?.value[1])).toBeGreaterThanOrEqual(8);
    const routes = (
      await prometheus!.query('sum by (http_route)(http_server_request_duration_count)')
    ).map((s) => s.metric.http_route);
    expect(routes).toEqual(
      expect.arrayContaining([
        '/api/v2/dags/:dag_id/dagRuns',
        '/api/v2/dags/:dag_id/dagVersions/:version_number/structure',
      ]),
    );
  });

  function pushed(serviceName: string): OtlpMetric[] {
    return receiver!.metrics
      .flatMap((request) => request.resourceMetrics)
      .filter((resource) => attribute(resource.resource.attributes, 'service.name') === serviceName)
      .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
  }

  it.each([
    ['dagbag-api', 'api'],
    ['dagbag-scheduler', 'scheduler'],
  ])(
    '%s pushes the cache metrics over OTLP/HTTP, each point with dagbag.role %s',
    (serviceName, role) => {
      const metrics = pushed(serviceName);
      for (const name of [
        'dagbag.cache.hits',
        'dagbag.cache.misses',
        'dagbag.cache.evictions',
        'dagbag.cache.entries',
        'dagbag.cache.weight',
        'dagbag.cache.max_bytes',
        'dagbag.cache.load.duration',
      ]) {
        const points = metrics.filter((metric) => metric.name === name).flatMap(dataPoints);
        expect(points.length, `${serviceName}: ${name}`).toBeGreaterThan(0);
        expect(
          new Set(points.map((point) => attribute(point.attributes, 'dagbag.role'))),
          name,
        ).toEqual(new Set([role]));
      }
      const hits = metrics
        .filter((metric) => metric.name === 'dagbag.cache.hits')
        .flatMap(dataPoints);
      expect(
        Math.max(...hits.map((point) => Number(point.asInt ?? point.asDouble ?? 0))),
      ).toBeGreaterThan(0);
    },
  );

  it('receives PostgreSQL spans from both apps and Express spans from the api: pg and express were patched', async () => {
    const scopesOf = (serviceName: string) =>
      new Set(
        receiver!.traces
          .flatMap((request) => request.resourceSpans)
          .filter(
            (resource) => attribute(resource.resource.attributes, 'service.name') === serviceName,
          )
          .flatMap((resource) =>
            resource.scopeSpans
              .filter((scope) => scope.spans.length > 0)
              .map((scope) => scope.scope?.name),
          ),
      );
    await waitFor(
      'spans arrive',
      async () =>
        scopesOf('dagbag-scheduler').has('@opentelemetry/instrumentation-pg') &&
        scopesOf('dagbag-api').has('@opentelemetry/instrumentation-express'),
      10_000,
    );
    expect(scopesOf('dagbag-scheduler')).toContain('@opentelemetry/instrumentation-pg');
    expect([...scopesOf('dagbag-api')]).toEqual(
      expect.arrayContaining([
        '@opentelemetry/instrumentation-pg',
        '@opentelemetry/instrumentation-express',
        '@opentelemetry/instrumentation-http',
      ]),
    );
  });

  it('both apps exit 0 on SIGTERM after the workload', async () => {
    for (const app of apps) app.child.kill('SIGTERM');
    const codes = await Promise.all(apps.map((app) => app.exited));
    expect(
      codes,
      apps.map((app) => `--- ${app.name}\n${app.output().slice(-3000)}`).join('\n'),
    ).toEqual([0, 0]);
  }, 40_000);
});

function report(results: Map<string, PromSample[]>, elapsedMs: number): string {
  const format = (samples: PromSample[]) =>
    samples.length === 0
      ? '(no data)'
      : samples
          .map((s) => {
            const labels = Object.entries(s.metric)
              .map(([k, v]) => `${k}="${v}"`)
              .join(',');
            const value = Number(s.value[1]);
            return `${labels ? `{${labels}} ` : ''}${Number.isInteger(value) ? value : value.toPrecision(4)}`;
          })
          .join('; ');
  const lines = [
    `Dashboard expressions against both real apps (setup and workload: ${(elapsedMs / 1000).toFixed(1)} s)`,
    '',
    '| panel | expression | result |',
    '|---|---|---|',
  ];
  for (const { panel, expr } of dashboardExpressions())
    lines.push(
      `| ${panel} | \`${expr.replaceAll('|', '\\|')}\` | ${format(results.get(expr) ?? [])} |`,
    );
  return `${lines.join('\n')}\n`;
}
