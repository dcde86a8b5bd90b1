import { createRequire } from 'node:module';
import {
  DiagLogLevel,
  context,
  createNoopMeter,
  diag,
  logs,
  metrics,
  propagation,
  trace,
  type MeterProvider,
} from '@opentelemetry/api';
import { OTLPMetricExporter as OtlpGrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as OtlpJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OtlpProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import {
  AggregationType,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type PushMetricExporter,
  type ViewOptions,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { Logger } from '@dagbag/logger';
import { ALL_METRICS, type MetricDescriptor } from '@dagbag/metrics';
import { createRateLimitedDiagLogger } from './diag-logger.ts';
import { installEsmHook } from './esm-hook.ts';
import type { OtelSettings, ServiceName } from './settings.ts';

/** The OTEL_* variables the OTLP decision reads (every field optional: unset is unset). */
export type OtlpVariables = Partial<
  Pick<
    OtelSettings,
    | 'OTEL_EXPORTER_OTLP_ENDPOINT'
    | 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'
    | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
    | 'OTEL_METRICS_EXPORTER'
    | 'OTEL_TRACES_EXPORTER'
  >
>;

export interface TelemetryOptions {
  serviceName: ServiceName;
  /** Port of the Prometheus `/metrics` endpoint (api 9464, scheduler 9465). */
  metricsPort: number;
  /** Interface it listens on; default 127.0.0.1 (containers pass 0.0.0.0). */
  metricsHost?: string;
  logger: Logger;
  /**
   * The OTEL_* settings the app read at start (`telemetrySettings` holds their shape). Omitted:
   * nothing is pushed. The SDK's exporters read endpoint, headers and timeouts from the process
   * environment themselves (the standard OTEL_* contract).
   */
  otel?: Partial<OtelSettings>;
  /**
   * Patch pg (its `db.client.*` metrics, and spans when traces are exported), and, only when traces
   * are exported, http and express for their spans (default true). `http.server.request.duration`
   * is the app's to record (apps/api records it per request at the cost of one histogram sample).
   * The runtime metrics (heap, GC, event loop: RUNTIME_METRICS) are served either way.
   */
  instrumentations?: boolean;
  /**
   * Upper bound on `shutdown()`: an unreachable collector must not hold the process. Default 5000.
   */
  shutdownTimeoutMs?: number;
}

export interface Telemetry {
  /** The global meter provider: `meterProvider.getMeter('@dagbag/dagbag')`. */
  readonly meterProvider: MeterProvider;
  /** Where Prometheus text is served, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly metricsUrl: string;
  /** Whether metrics and traces are pushed over OTLP. */
  readonly otlp: { metrics: boolean; traces: boolean };
  /** Pushes pending OTLP metrics now (no-op without OTLP). */
  forceFlush(): Promise<void>;
  /** Flushes and stops everything; resolves within `shutdownTimeoutMs` even if export fails. */
  shutdown(): Promise<void>;
}

/**
 * Histogram boundaries from the registry as views, so instruments created anywhere (not only
 * through `createInstrument`) get the buckets the dashboards' quantiles are designed for.
 */
export function registryViews(
  descriptors: readonly MetricDescriptor[] = ALL_METRICS,
): ViewOptions[] {
  return descriptors
    .filter((metric) => metric.kind === 'histogram' && metric.buckets)
    .map((metric) => ({
      instrumentName: metric.name,
      aggregation: {
        type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM,
        options: { boundaries: [...metric.buckets!] },
      },
    }));
}

/**
 * The pg instrumentation's `db.client.connection.*` are dropped: it updates them on pool events
 * only, so they lag what the pool holds (a pool at rest showed a used connection; queries queueing
 * for a full pool showed 0 pending). `@dagbag/db` observes its pool itself under the same names.
 */
export const DROPPED_INSTRUMENTATION_VIEWS: ViewOptions[] = [
  {
    meterName: '@opentelemetry/instrumentation-pg',
    instrumentName: 'db.client.connection.*',
    aggregation: { type: AggregationType.DROP },
  },
];

function listFromEnv(value: string | undefined): string[] | undefined {
  const items = value
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  return items && items.length > 0 ? items : undefined;
}

/**
 * OTLP push follows the standard variables, with one deliberate difference from the SDK's
 * defaults: without any endpoint configured nothing is pushed (the SDK would push to
 * localhost:4318 and fail forever). An explicit OTEL_METRICS_EXPORTER / OTEL_TRACES_EXPORTER
 * still wins.
 */
export function otlpDecision(env: OtlpVariables): { metrics: boolean; traces: boolean } {
  const endpoint = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const decide = (exporters: string | undefined, signalEndpoint: string | undefined) => {
    const list = listFromEnv(exporters);
    if (list) return list.includes('otlp') && !list.includes('none');
    return endpoint || Boolean(signalEndpoint);
  };
  return {
    metrics: decide(env.OTEL_METRICS_EXPORTER, env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT),
    traces: decide(env.OTEL_TRACES_EXPORTER, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
  };
}

/**
 * The OTLP metric exporter for OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL; it reads endpoint, headers
 * and timeout itself.
 */
function otlpMetricExporter(otel: Partial<OtelSettings>, logger: Logger): PushMetricExporter {
  const protocol = (
    otel.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ??
    otel.OTEL_EXPORTER_OTLP_PROTOCOL ??
    'http/protobuf'
  ).trim();
  switch (protocol) {
    case 'grpc':
      return new OtlpGrpcMetricExporter();
    case 'http/json':
      return new OtlpJsonMetricExporter();
    case 'http/protobuf':
      return new OtlpProtoMetricExporter();
    default:
      logger.warn({ protocol }, 'unsupported OTLP metrics protocol; using http/protobuf');
      return new OtlpProtoMetricExporter();
  }
}

async function startPrometheus(
  host: string,
  port: number,
  serviceName: string,
): Promise<PrometheusExporter> {
  let exporter: PrometheusExporter | undefined;
  await new Promise<void>((resolve, reject) => {
    exporter = new PrometheusExporter({ host, port, endpoint: '/metrics' }, (error) => {
      if (error)
        reject(
          new Error(
            `METRICS_PORT: cannot serve /metrics for ${serviceName} on ${host}:${port}: ${error.message}`,
            { cause: error },
          ),
        );
      else resolve();
    });
  });
  return exporter!;
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    timer.unref();
  });
  return Promise.race([promise.then(() => 'done' as const), timeout]).finally(() =>
    clearTimeout(timer),
  );
}

let running: Telemetry | undefined;

/**
 * Starts the OpenTelemetry Node SDK for one app: resource `service.name`, Prometheus text on
 * `metricsHost:metricsPort/metrics`, OTLP push of metrics and traces when configured through the
 * standard `OTEL_*` variables, the pg instrumentation, and the http and express ones when traces
 * are exported.
 *
 * Call it first thing in `main`, before anything imports express, pg or Prisma: instrumentation
 * patches modules as they are loaded, and modules loaded earlier stay unpatched.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  if (running)
    throw new Error(
      'startTelemetry: telemetry is already running in this process; shut it down first',
    );
  const otel = options.otel ?? {};
  const { logger, serviceName } = options;
  const host = options.metricsHost ?? '127.0.0.1';
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
  const otlp = otlpDecision(otel);

  if (options.instrumentations !== false) installEsmHook();

  const prometheus = await startPrometheus(host, options.metricsPort, serviceName);
  const readers: IMetricReader[] = [prometheus];
  let pushReader: PeriodicExportingMetricReader | undefined;
  if (otlp.metrics) {
    const exportIntervalMillis = otel.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000;
    pushReader = new PeriodicExportingMetricReader({
      exporter: otlpMetricExporter(otel, logger),
      exportIntervalMillis,
      exportTimeoutMillis: Math.min(
        otel.OTEL_METRIC_EXPORT_TIMEOUT ?? 30_000,
        exportIntervalMillis,
      ),
    });
    readers.push(pushReader);
  }

  // Spans of http and express cost every request a context, attributes and (for express) a span
  // per middleware layer: they are patched in only when traces leave the process.
  const httpInstrumentation =
    options.instrumentations !== false && otlp.traces
      ? new HttpInstrumentation({
          // Scrapes of our own /metrics are not traffic worth a span.
          ignoreIncomingRequestHook: (request) => request.socket.localPort === options.metricsPort,
        })
      : undefined;
  const instrumentations = [
    // Heap by space, GC pauses, event-loop delay and utilization, active resources
    // (RUNTIME_METRICS): it patches no module, so it is on even without the others.
    new RuntimeNodeInstrumentation(),
    ...(options.instrumentations === false
      ? []
      : [
          ...(httpInstrumentation ? [httpInstrumentation, new ExpressInstrumentation()] : []),
          new PgInstrumentation(),
        ]),
  ];

  // Detected up front and awaited: the SDK would detect lazily, and a scrape arriving before the
  // host's asynchronous attributes settle logs a warning on every start.
  const detected = detectResources({
    detectors: [serviceInstanceIdDetector, processDetector, hostDetector, osDetector, envDetector],
  });
  await detected.waitForAsyncAttributes?.();

  const sdk = new NodeSDK({
    serviceName,
    resource: defaultResource().merge(detected),
    autoDetectResources: false,
    metricReaders: readers,
    views: [...registryViews(), ...DROPPED_INSTRUMENTATION_VIEWS],
    instrumentations,
    // Empty lists mean "none": traces only when OTLP is configured, and logs stay on stdout (pino).
    ...(otlp.traces ? {} : { spanProcessors: [] }),
    logRecordProcessors: [],
  });
  // Set after the constructor, which installs a console logger of its own when OTEL_LOG_LEVEL is
  // set.
  diag.setLogger(createRateLimitedDiagLogger(logger), {
    logLevel: diagLevel(otel.OTEL_LOG_LEVEL),
    suppressOverrideMessage: true,
  });
  sdk.start();
  if (httpInstrumentation) {
    // The app records http.server.request.duration itself (with or without traces); the
    // instrumentation's own copy of it would be a second series of the same name.
    httpInstrumentation.setMeterProvider({ getMeter: () => createNoopMeter() });
    // `http` is loaded before this point (the Prometheus exporter serves with it), and the
    // require hook patches a built-in only when it is required again: do it now, so that the
    // servers the app creates later emit through the patched prototype.
    createRequire(import.meta.url)('node:http');
  }
  logger.info(
    {
      serviceName,
      metrics: `http://${host}:${options.metricsPort}/metrics`,
      otlpMetrics: otlp.metrics,
      otlpTraces: otlp.traces,
    },
    'telemetry started',
  );

  let stopping: Promise<void> | undefined;
  const telemetry: Telemetry = {
    meterProvider: metrics.getMeterProvider(),
    metricsUrl: `http://${host.includes(':') ? `[${host}]` : host}:${options.metricsPort}/metrics`,
    otlp,
    async forceFlush() {
      await pushReader?.forceFlush();
    },
    shutdown() {
      stopping ??= (async () => {
        const outcome = await withTimeout(
          sdk.shutdown().catch((error: unknown) => diag.error('telemetry shutdown failed', error)),
          shutdownTimeoutMs,
        );
        if (outcome === 'timeout')
          logger.warn({ shutdownTimeoutMs }, 'telemetry did not flush in time; giving up');
        for (const instrumentation of instrumentations) instrumentation.disable();
        // Unregister the globals so a later start in the same process (tests) registers cleanly.
        metrics.disable();
        trace.disable();
        logs.disable();
        propagation.disable();
        context.disable();
        diag.disable();
        running = undefined;
      })();
      return stopping;
    },
  };
  running = telemetry;
  return telemetry;
}

function diagLevel(value: string | undefined): DiagLogLevel {
  const level = value?.trim().toUpperCase() as keyof typeof DiagLogLevel | undefined;
  return level && level in DiagLogLevel ? DiagLogLevel[level] : DiagLogLevel.WARN;
}
