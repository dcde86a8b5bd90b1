import { createServer } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ALL_METRICS,
  CACHE_METRICS,
  createInstrument,
  createObservable,
  prometheusSeriesNames,
} from '@dagbag/metrics';
import { readConfig } from '@dagbag/config';
import { OTEL_SETTINGS } from './settings.ts';
import { startTelemetry, type Telemetry } from './telemetry.ts';
import { captureLogger } from './testing/capture-logger.ts';
import { freePort } from '@dagbag/config/testing/free-port';
import { attribute, dataPoints, startOtlpReceiver } from './testing/otlp-receiver.ts';
import { recordSampleTraffic } from './testing/sample-traffic.ts';

const OTEL_VARIABLES = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_TRACES_EXPORTER',
];
let savedEnv: Record<string, string | undefined>;
let telemetry: Telemetry | undefined;

beforeEach(() => {
  savedEnv = Object.fromEntries(OTEL_VARIABLES.map((name) => [name, process.env[name]]));
});

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('startTelemetry', () => {
  it('pushes cache metrics over OTLP/HTTP with dagbag.role and the service name', async () => {
    const receiver = await startOtlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = 'http/json';
    process.env.OTEL_TRACES_EXPORTER = 'none';
    const { logger } = captureLogger();
    telemetry = await startTelemetry({
      serviceName: 'dagbag-scheduler',
      metricsPort: await freePort(),
      logger,
      // As an app's main does: the OTEL_* variables read once and passed down.
      otel: readConfig(OTEL_SETTINGS, process.env),
      instrumentations: false,
    });
    expect(telemetry.otlp.metrics).toBe(true);

    const meter = telemetry.meterProvider.getMeter('@dagbag/dagbag');
    createInstrument(meter, CACHE_METRICS.hits).add(5, { 'dagbag.role': 'scheduler' });
    createInstrument(meter, CACHE_METRICS.misses).add(1, {
      'dagbag.role': 'scheduler',
      result: 'loaded',
    });
    createInstrument(meter, CACHE_METRICS.loadDuration).record(0.004, {
      'dagbag.role': 'scheduler',
    });
    createObservable(meter, CACHE_METRICS.entries).addCallback((result) =>
      result.observe(3, { 'dagbag.role': 'scheduler' }),
    );
    await telemetry.forceFlush();
    await telemetry.shutdown();
    telemetry = undefined;
    await receiver.close();

    const resources = receiver.metrics.flatMap((request) => request.resourceMetrics);
    const serviceNames = resources.map((r) => attribute(r.resource.attributes, 'service.name'));
    expect(serviceNames).toContain('dagbag-scheduler');
    const metrics = resources.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    // forceFlush and the final flush of shutdown each send one request. The runtime metrics
    // (heap, event loop) come along; the cache's are the ones recorded here.
    const cacheMetrics = metrics.filter((m) => m.name.startsWith('dagbag.'));
    expect([...new Set(cacheMetrics.map((m) => m.name))].sort()).toEqual([
      'dagbag.cache.entries',
      'dagbag.cache.hits',
      'dagbag.cache.load.duration',
      'dagbag.cache.misses',
    ]);
    expect(metrics.map((m) => m.name)).toContain('v8js.memory.heap.used');
    for (const metric of cacheMetrics) {
      const roles = dataPoints(metric).map((point) => attribute(point.attributes, 'dagbag.role'));
      expect(new Set(roles), metric.name).toEqual(new Set(['scheduler']));
    }
  });

  it('serves every registry metric on /metrics under the name the dashboards use', async () => {
    const { logger } = captureLogger();
    telemetry = await startTelemetry({
      serviceName: 'dagbag-api',
      metricsPort: await freePort(),
      logger,
      instrumentations: false,
    });
    expect(telemetry.otlp).toEqual({ metrics: false, traces: false });
    const traffic = recordSampleTraffic(telemetry.meterProvider.getMeter('test'));
    for (let i = 0; i < 20; i += 1) traffic.tick();
    // The runtime metrics need samples: a garbage collection for v8js.gc.duration, and 5 event
    // loop delays (10 ms resolution) for nodejs.eventloop.delay.*.
    const garbage: string[] = [];
    for (let i = 0; i < 1_000_000; i += 1) garbage.push(`garbage ${i}`);
    garbage.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 200));

    const response = await fetch(telemetry.metricsUrl);
    const text = await response.text();
    const served = new Set(
      text
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => line.split(/[{ ]/)[0]),
    );
    for (const metric of ALL_METRICS) {
      for (const name of prometheusSeriesNames(metric)) expect(served, name).toContain(name);
    }
    expect(text).toContain('dagbag_cache_hits_total{dagbag_role="api"');
    // The heap by V8 space, which RSS alone cannot tell apart from V8's saw-tooth.
    expect(text).toMatch(/v8js_memory_heap_used\{[^}]*v8js_heap_space_name="old_space"/);
    expect(text).toMatch(/target_info\{[^}]*service_name="dagbag-api"/);
    // The registry's buckets reach the exporter (views), not the SDK's default ones.
    expect(text).toContain(
      'dagbag_cache_load_duration_bucket{dagbag_role="api",otel_scope_name="test",le="0.0005"}',
    );
  });

  it('shuts down promptly with an unreachable collector and logs at most one warning', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    process.env.OTEL_METRIC_EXPORT_INTERVAL = '100';
    process.env.OTEL_EXPORTER_OTLP_TIMEOUT = '1000';
    const { logger, lines } = captureLogger();
    telemetry = await startTelemetry({
      serviceName: 'dagbag-api',
      metricsPort: await freePort(),
      logger,
      otel: readConfig(OTEL_SETTINGS, process.env),
      instrumentations: false,
      shutdownTimeoutMs: 3000,
    });
    createInstrument(telemetry.meterProvider.getMeter('test'), CACHE_METRICS.hits).add(1, {
      'dagbag.role': 'api',
    });
    await new Promise((resolve) => setTimeout(resolve, 700));

    const started = Date.now();
    await telemetry.shutdown();
    telemetry = undefined;
    expect(Date.now() - started).toBeLessThan(3500);
    const warnings = lines().filter((line) => Number(line.level) >= 40);
    expect(warnings.length, JSON.stringify(warnings)).toBeLessThanOrEqual(1);
  });

  it('refuses a metrics port that is taken, naming METRICS_PORT', async () => {
    const { logger } = captureLogger();
    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    await expect(
      startTelemetry({
        serviceName: 'dagbag-api',
        metricsPort: port,
        logger,
        instrumentations: false,
      }),
    ).rejects.toThrow(/METRICS_PORT/);
    blocker.close();
  });
});
