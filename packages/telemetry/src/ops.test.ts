import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '@dagbag/config';
import {
  ALL_METRICS,
  CACHE_METRICS,
  prometheusSeriesNames,
  type MetricDescriptor,
} from '@dagbag/metrics';
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
  if (!present)
    throw new Error(
      `${binary} is not installed: apt-get install ${debianPackage} (./scripts/run.sh test installs it)`,
    );
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
    expect(result.output.split('\n').filter(Boolean).sort()).toEqual([
      'api',
      'grafana',
      'otel-collector',
      'postgres',
      'prometheus',
      'scheduler',
    ]);
    expect(run('docker-compose', ['--profile', 'apps', 'config', '-q']).status).toBe(0);
  });
});

describe('the apps profile and the Dockerfile', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<
      string,
      {
        command?: string[];
        init?: boolean;
        stop_grace_period?: string;
        volumes?: string[];
        ports?: string[];
        environment?: Record<string, string>;
      }
    >;
  };

  it('publishes every port on the loopback interface only, not to the network', () => {
    // Published as 'HOST:CONTAINER', Docker listens on every interface: the database's well-known
    // password, Grafana's anonymous viewer and the unauthenticated /metrics were open to anyone.
    const published = Object.entries(compose.services).flatMap(([service, definition]) =>
      (definition.ports ?? []).map((port) => `${service} ${port}`),
    );
    expect(published.length).toBeGreaterThan(0);
    for (const entry of published) expect(entry).toMatch(/^\S+ 127\.0\.0\.1:\d+:\d+$/);
  });

  it('gives the API no token of its own: unset, the API generates one and prints it', () => {
    // A default written in the repository is a token every reader of it knows.
    expect(compose.services.api!.environment?.API_AUTH_TOKENS).toBe('${API_AUTH_TOKENS:-}');
  });

  it('runs each app as node on its main.ts (no wrapper between the signal and the app), under an init', () => {
    for (const [service, main] of [
      ['api', 'apps/api/src/main.ts'],
      ['scheduler', 'apps/scheduler/src/main.ts'],
    ] as const) {
      const definition = compose.services[service]!;
      expect(definition.command).toEqual(['node', main]);
      expect(existsSync(join(root, main)), main).toBe(true);
      expect(definition.init, service).toBe(true);
      // Both share DATA_DIR: the scheduler writes task logs, the API serves them.
      expect(definition.volumes, service).toContain('app-data:/app/.data');
    }
  });

  it('gives each app more time to stop than its own drain takes', () => {
    const seconds = (value: string | undefined) =>
      Number(/^(\d+)s$/.exec(value ?? '')?.[1] ?? Number.NaN);
    // API_SHUTDOWN_TIMEOUT_MS and SCHEDULER_SHUTDOWN_GRACE_SECONDS defaults: 10 s and 30 s.
    expect(seconds(compose.services.api!.stop_grace_period)).toBeGreaterThan(10);
    expect(seconds(compose.services.scheduler!.stop_grace_period)).toBeGreaterThan(30);
  });

  it('builds from a context that keeps what the install and the apps need and leaves out local state', () => {
    const ignored = dockerignoreMatcher(readFileSync(join(root, '.dockerignore'), 'utf8'));
    // The root postinstall runs packages/db/scripts/generate.mjs, which reads the Prisma schema and
    // config.
    for (const needed of [
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'packages/db/scripts/generate.mjs',
      'packages/db/prisma/schema.prisma',
      'packages/db/prisma.config.ts',
      'packages/db/prisma/migrations/migration_lock.toml',
      'apps/api/src/main.ts',
      'apps/scheduler/src/main.ts',
      'dags/example_etl.json',
    ]) {
      expect(ignored(needed), needed).toBe(false);
    }
    for (const left of [
      'node_modules/x',
      'apps/api/node_modules/x',
      '.data/postgres/PG_VERSION',
      'packages/db/src/generated/prisma/client.ts',
      '.git/HEAD',
    ]) {
      expect(ignored(left), left).toBe(true);
    }
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    // The install that runs the postinstall comes after the sources are in.
    expect(dockerfile.indexOf('COPY . .')).toBeGreaterThan(-1);
    expect(dockerfile.indexOf('pnpm install --offline --frozen-lockfile')).toBeGreaterThan(
      dockerfile.indexOf('COPY . .'),
    );
  });
});

/**
 * Whether .dockerignore leaves a path out of the build context: `*` within a segment, `**`
 * across segments, a match on a folder covers what is inside, `!` re-includes, last rule wins.
 */
function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((segment) =>
          segment === '**'
            ? '.*'
            : segment
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negated, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) =>
    rules.reduce((ignored, rule) => (rule.regex.test(path) ? !rule.negated : ignored), false);
}

/**
 * The name the collector's Prometheus exporter gives a series: the unit's suffix appended
 * (`_seconds`, `_bytes`, unless the name ends with it already; `{...}` units add none), then
 * `_total` for a counter.
 */
function collectorSeriesNames(metric: MetricDescriptor): string[] {
  const suffix = { s: '_seconds', By: '_bytes' }[metric.unit] ?? '';
  let name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  if (suffix && !name.endsWith(suffix)) name += suffix;
  if (metric.kind === 'counter') name += '_total';
  return metric.kind === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

describe('ops/prometheus.yml', () => {
  const config = parse(readFileSync(join(root, 'ops', 'prometheus.yml'), 'utf8')) as {
    scrape_configs: {
      job_name: string;
      metric_relabel_configs?: { regex: string; replacement: string; target_label: string }[];
    }[];
  };

  it('passes promtool check config', () => {
    requireBinary(hasPromtool, 'promtool', 'prometheus');
    const result = run('promtool', ['check', 'config', join(root, 'ops', 'prometheus.yml')]);
    expect(result.status, result.output).toBe(0);
  });

  it('renames what the collector exports to the names the apps serve, for every metric', () => {
    const rules = config.scrape_configs.find(
      (job) => job.job_name === 'otel-collector',
    )!.metric_relabel_configs!;
    // Prometheus anchors the regex and writes ${n} groups into the target label.
    const relabel = (name: string) =>
      rules.reduce((current, rule) => {
        const match = new RegExp(`^(?:${rule.regex})$`).exec(current);
        if (match === null || rule.target_label !== '__name__') return current;
        return rule.replacement.replace(
          /\$\{(\d+)\}/g,
          (_, group: string) => match[Number(group)]!,
        );
      }, name);
    for (const metric of ALL_METRICS) {
      expect(collectorSeriesNames(metric).map(relabel), metric.name).toEqual(
        prometheusSeriesNames(metric),
      );
    }
  });
});

describe('ops/prometheus-rules.yml', () => {
  const rules = (
    parse(readFileSync(join(root, 'ops', 'prometheus-rules.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    }
  ).groups.flatMap((group) => group.rules);
  const known = new Set([...ALL_METRICS.flatMap(prometheusSeriesNames), 'up']);

  it('passes promtool check rules', () => {
    requireBinary(hasPromtool, 'promtool', 'prometheus');
    const result = run('promtool', ['check', 'rules', join(root, 'ops', 'prometheus-rules.yml')]);
    expect(result.status, result.output).toBe(0);
  });

  it('fires each alert as ops/prometheus-rules.test.yml expects (promtool test rules)', () => {
    requireBinary(hasPromtool, 'promtool', 'prometheus');
    const result = run('promtool', [
      'test',
      'rules',
      join(root, 'ops', 'prometheus-rules.test.yml'),
    ]);
    expect(result.status, result.output).toBe(0);
    const tested = readFileSync(join(root, 'ops', 'prometheus-rules.test.yml'), 'utf8');
    for (const { alert } of rules) expect(tested, alert).toContain(`alertname: ${alert}`);
  });

  it('names only metrics of the registry, as the apps serve them', () => {
    for (const { alert, expr } of rules) {
      const names = metricNamesIn(expr);
      expect(names.length, alert).toBeGreaterThan(0);
      for (const name of names) expect(known, `${alert}: ${expr}`).toContain(name);
    }
  });
});

describe('ops/otel-collector.yaml', () => {
  const config = parse(readFileSync(join(root, 'ops', 'otel-collector.yaml'), 'utf8')) as {
    receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
    processors: Record<string, unknown>;
    exporters: Record<string, { endpoint?: string }>;
    extensions: Record<string, unknown>;
    service: {
      extensions: string[];
      pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
    };
  };

  it('receives OTLP over gRPC and HTTP on all interfaces and serves Prometheus on 8889', () => {
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(config.exporters.prometheus?.endpoint).toBe('0.0.0.0:8889');
    expect(config.service.pipelines.metrics?.processors).toContain('batch');
  });

  it('only names components it defines in its pipelines', () => {
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      for (const receiver of pipeline.receivers)
        expect(Object.keys(config.receivers), name).toContain(receiver);
      for (const processor of pipeline.processors)
        expect(Object.keys(config.processors), name).toContain(processor);
      for (const exporter of pipeline.exporters)
        expect(Object.keys(config.exporters), name).toContain(exporter);
    }
    for (const extension of config.service.extensions)
      expect(Object.keys(config.extensions)).toContain(extension);
  });
});

describe('the DagBag cache dashboard', () => {
  const expressions = dashboardExpressions();
  const known = new Set(ALL_METRICS.flatMap(prometheusSeriesNames));

  it('is titled "DagBag cache" and has expressions', () => {
    const dashboard = JSON.parse(
      readFileSync(join(root, 'ops', 'grafana', 'dashboards', 'dagbag-cache.json'), 'utf8'),
    ) as { title: string };
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
      expect(
        prometheusSeriesNames(metric).some((name) => used.has(name)),
        metric.name,
      ).toBe(true);
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
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, dagbag_role)(rate(dagbag_cache_load_duration_bucket{reason="ttl"}[5m])))',
      ),
    ).toEqual(['dagbag_cache_load_duration_bucket']);
    expect(metricNamesIn('sum(a_total) / (sum(a_total) + sum(b_total))')).toEqual([
      'a_total',
      'b_total',
    ]);
  });
});
