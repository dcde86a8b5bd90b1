import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '@dagbag/config';
import { ALL_METRICS, CACHE_METRICS, prometheusSeriesNames } from '@dagbag/metrics';
import { dashboardExpressions, metricNamesIn } from './dashboard.ts';

const root = repoRoot();

function available(binary: string, versionFlag = '--version'): boolean {
  return spawnSync(binary, [versionFlag], { stdio: 'ignore' }).status === 0;
}

function run(binary: string, args: string[]) {
  const result = spawnSync(binary, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const hasCompose = available('docker-compose', 'version');
const hasPromtool = available('promtool');

/** The test command installs both (scripts/run.sh test); a missing one is a failure, not a skip. */
function requireBinary(present: boolean, binary: string, debianPackage: string): void {
  if (!present) throw new Error(`${binary} is not installed: apt-get install ${debianPackage} (./scripts/run.sh test installs it)`);
}

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config', () => {
    requireBinary(hasCompose, 'docker-compose', 'docker-compose');
    const result = run('docker-compose', ['config', '-q']);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('is accepted with the apps profile, which runs both apps', () => {
    requireBinary(hasCompose, 'docker-compose', 'docker-compose');
    const result = run('docker-compose', ['--profile', 'apps', 'config', '--services']);
    expect(result.status, result.output).toBe(0);
    expect(result.output.split('\n').filter(Boolean).sort()).toEqual(['api', 'grafana', 'otel-collector', 'postgres', 'prometheus', 'scheduler']);
    expect(run('docker-compose', ['--profile', 'apps', 'config', '-q']).status).toBe(0);
  });
});

describe('ops/prometheus.yml', () => {
  it('passes promtool check config', () => {
    requireBinary(hasPromtool, 'promtool', 'prometheus');
    const result = run('promtool', ['check', 'config', join(root, 'ops', 'prometheus.yml')]);
    expect(result.status, result.output).toBe(0);
  });
});

describe('ops/otel-collector.yaml', () => {
  const config = parse(readFileSync(join(root, 'ops', 'otel-collector.yaml'), 'utf8')) as {
    receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
    processors: Record<string, unknown>;
    exporters: Record<string, { endpoint?: string }>;
    extensions: Record<string, unknown>;
    service: { extensions: string[]; pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
  };

  it('receives OTLP over gRPC and HTTP on all interfaces and serves Prometheus on 8889', () => {
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(config.exporters.prometheus?.endpoint).toBe('0.0.0.0:8889');
    expect(config.service.pipelines.metrics?.processors).toContain('batch');
  });

  it('only names components it defines in its pipelines', () => {
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      for (const receiver of pipeline.receivers) expect(Object.keys(config.receivers), name).toContain(receiver);
      for (const processor of pipeline.processors) expect(Object.keys(config.processors), name).toContain(processor);
      for (const exporter of pipeline.exporters) expect(Object.keys(config.exporters), name).toContain(exporter);
    }
    for (const extension of config.service.extensions) expect(Object.keys(config.extensions)).toContain(extension);
  });
});

describe('the DagBag cache dashboard', () => {
  const expressions = dashboardExpressions();
  const known = new Set(ALL_METRICS.flatMap(prometheusSeriesNames));

  it('is titled "DagBag cache" and has expressions', () => {
    const dashboard = JSON.parse(readFileSync(join(root, 'ops', 'grafana', 'dashboards', 'dagbag-cache.json'), 'utf8')) as { title: string };
    expect(dashboard.title).toBe('DagBag cache');
    expect(expressions.length).toBeGreaterThan(10);
  });

  it('names only metrics of the registry, as the exporter serves them', () => {
    for (const { panel, expr } of expressions) {
      const names = metricNamesIn(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(known, `${panel}: ${expr}`).toContain(name);
    }
  });

  it('shows every cache metric', () => {
    const used = new Set(expressions.flatMap(({ expr }) => metricNamesIn(expr)));
    for (const metric of Object.values(CACHE_METRICS)) {
      expect(prometheusSeriesNames(metric).some((name) => used.has(name)), metric.name).toBe(true);
    }
  });

  it('reads the cache metrics per role through the dagbag_role label', () => {
    const cacheExprs = expressions.filter(({ expr }) => expr.includes('dagbag_cache_'));
    for (const { panel, expr } of cacheExprs) expect(expr, panel).toContain('dagbag_role');
  });
});

describe('metricNamesIn', () => {
  it('finds metric names and ignores functions, labels, strings and durations', () => {
    expect(
      metricNamesIn('histogram_quantile(0.99, sum by (le, dagbag_role)(rate(dagbag_cache_load_duration_bucket{reason="ttl"}[5m])))'),
    ).toEqual(['dagbag_cache_load_duration_bucket']);
    expect(metricNamesIn('sum(a_total) / (sum(a_total) + sum(b_total))')).toEqual(['a_total', 'b_total']);
  });
});
