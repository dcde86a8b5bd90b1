export { startTelemetry, otlpDecision, registryViews } from './telemetry.ts';
export type { Telemetry, TelemetryOptions, OtlpVariables } from './telemetry.ts';
export {
  telemetrySettings,
  metricsPortOf,
  OTEL_SETTINGS,
  DEFAULT_METRICS_PORT,
} from './settings.ts';
export type { OtelSettings, ServiceName } from './settings.ts';
export { createRateLimitedDiagLogger, incidentKey } from './diag-logger.ts';
export { installEsmHook, instrumentedPackageOf, INSTRUMENTED_PACKAGES } from './esm-hook.ts';
