import {
  integerSetting,
  optionalIntegerSetting,
  optionalStringSetting,
  stringSetting,
  type ConfigOf,
} from '@dagbag/config';

/** Default Prometheus ports (README, Metrics). */
export const DEFAULT_METRICS_PORT = { 'dagbag-api': 9464, 'dagbag-scheduler': 9465 } as const;
export type ServiceName = keyof typeof DEFAULT_METRICS_PORT;

const EXPORTER_LIST = /^\s*[a-z]+(\s*,\s*[a-z]+)*\s*$/;
const URL_PATTERN = /^https?:\/\/\S+$/;

/**
 * The standard OpenTelemetry variables the apps decide with (whether and how to push OTLP, the
 * SDK's diagnostic level). They are read with the app's other settings and passed to
 * `startTelemetry`; the SDK's exporters also read the endpoint, headers and timeouts themselves
 * (the standard contract of OTEL_* variables).
 */
export const OTEL_SETTINGS = {
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalStringSetting({
    pattern: URL_PATTERN,
    accepted: 'an http(s) URL',
    secret: 'url-password',
    description: 'OTLP collector: set it to push metrics and traces (unset: nothing is pushed)',
  }),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: optionalStringSetting({
    pattern: URL_PATTERN,
    accepted: 'an http(s) URL',
    secret: 'url-password',
    description: 'OTLP endpoint for metrics only (pushes metrics)',
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalStringSetting({
    pattern: URL_PATTERN,
    accepted: 'an http(s) URL',
    secret: 'url-password',
    description: 'OTLP endpoint for traces only (pushes traces)',
  }),
  OTEL_METRICS_EXPORTER: optionalStringSetting({
    pattern: EXPORTER_LIST,
    accepted: 'a comma-separated list, e.g. `otlp` or `none`',
    description: 'overrides the endpoint rule: `otlp` pushes metrics, `none` does not',
  }),
  OTEL_TRACES_EXPORTER: optionalStringSetting({
    pattern: EXPORTER_LIST,
    accepted: 'a comma-separated list, e.g. `otlp` or `none`',
    description: 'overrides the endpoint rule: `otlp` pushes traces, `none` does not',
  }),
  OTEL_EXPORTER_OTLP_PROTOCOL: stringSetting({
    default: 'http/protobuf',
    pattern: /^(grpc|http\/json|http\/protobuf)$/,
    accepted: 'grpc, http/json or http/protobuf',
    description: 'OTLP transport',
  }),
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: optionalStringSetting({
    pattern: /^(grpc|http\/json|http\/protobuf)$/,
    accepted: 'grpc, http/json or http/protobuf',
    description: 'OTLP transport for metrics; unset: OTEL_EXPORTER_OTLP_PROTOCOL',
  }),
  OTEL_METRIC_EXPORT_INTERVAL: integerSetting({
    default: 60_000,
    min: 100,
    max: 86_400_000,
    description: 'milliseconds between two OTLP metric pushes',
  }),
  OTEL_METRIC_EXPORT_TIMEOUT: integerSetting({
    default: 30_000,
    min: 100,
    max: 86_400_000,
    description: 'milliseconds one OTLP metric push may take (at most the interval)',
  }),
  OTEL_LOG_LEVEL: stringSetting({
    default: 'warn',
    pattern: /^(none|error|warn|info|debug|verbose|all)$/i,
    accepted: 'none, error, warn, info, debug, verbose or all',
    description:
      "level of the OpenTelemetry SDK's own diagnostics (logged through the app's logger)",
  }),
};

export type OtelSettings = ConfigOf<typeof OTEL_SETTINGS>;

/**
 * One app's own metrics port, over METRICS_PORT: `pnpm dev` starts both apps with one
 * environment, where a single METRICS_PORT would make the second app fail to bind.
 */
const OWN_METRICS_PORT_SETTINGS = {
  API_METRICS_PORT: optionalIntegerSetting({
    min: 1,
    max: 65535,
    unset: '(unset)',
    description:
      "the api's `/metrics` port, over METRICS_PORT (for `pnpm dev`, where both apps share one environment); unset: METRICS_PORT",
  }),
  SCHEDULER_METRICS_PORT: optionalIntegerSetting({
    min: 1,
    max: 65535,
    unset: '(unset)',
    description:
      "the scheduler's `/metrics` port, over METRICS_PORT (for `pnpm dev`, where both apps share one environment); unset: METRICS_PORT",
  }),
};

/** The port an app serves /metrics on: its own variable, else METRICS_PORT. */
export function metricsPortOf(
  serviceName: ServiceName,
  values: { METRICS_PORT: number; API_METRICS_PORT?: number; SCHEDULER_METRICS_PORT?: number },
): number {
  const own =
    serviceName === 'dagbag-api' ? values.API_METRICS_PORT : values.SCHEDULER_METRICS_PORT;
  return own ?? values.METRICS_PORT;
}

/**
 * The settings an app adds to its own config shape, so they are validated with the rest:
 * `readConfig({ ...appShape, ...telemetrySettings('dagbag-api') }, process.env)`.
 * METRICS_HOST defaults to loopback like API_HOST; containers set 0.0.0.0 so Prometheus can scrape.
 */
export function telemetrySettings(serviceName: ServiceName) {
  return {
    METRICS_PORT: integerSetting({
      default: DEFAULT_METRICS_PORT[serviceName],
      min: 1,
      max: 65535,
      description: 'port of the Prometheus `/metrics` endpoint (api 9464, scheduler 9465)',
    }),
    ...OWN_METRICS_PORT_SETTINGS,
    METRICS_HOST: stringSetting({
      default: '127.0.0.1',
      pattern: /^[\w.:-]+$/,
      accepted: 'a host name or IP address',
      description: 'interface `/metrics` binds to; containers set 0.0.0.0 so Prometheus can scrape',
    }),
    ...OTEL_SETTINGS,
  };
}
