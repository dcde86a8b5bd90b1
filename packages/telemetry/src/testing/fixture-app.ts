/**
 * A stand-in app for tests: starts telemetry the way the real apps do, then records every metric
 * of the registry with a little traffic every 100 ms (both cache roles, the scheduler's loop, API
 * requests) until SIGTERM. Prints one JSON line `{"ready":true,...}` on stdout once serving.
 *
 * Env: FIXTURE_METRICS_PORT (required), FIXTURE_SERVICE_NAME (default dagbag-api),
 * FIXTURE_IMPORT_PG=1 to report whether `pg` was patched by the instrumentation.
 */
import { isWrapped } from '@opentelemetry/instrumentation';
import { createLogger } from '@dagbag/logger';
import { readConfig } from '@dagbag/config';
import { OTEL_SETTINGS, startTelemetry, type ServiceName } from '../index.ts';
import { recordSampleTraffic } from './sample-traffic.ts';

const logger = createLogger({
  name: 'fixture',
  level: process.env.LOG_LEVEL ?? 'warn',
  destination: process.stderr,
});
const telemetry = await startTelemetry({
  serviceName: (process.env.FIXTURE_SERVICE_NAME ?? 'dagbag-api') as ServiceName,
  metricsPort: Number(process.env.FIXTURE_METRICS_PORT),
  logger,
  otel: readConfig(OTEL_SETTINGS, process.env),
});

let pgPatched: boolean | undefined;
if (process.env.FIXTURE_IMPORT_PG === '1') {
  // Imported only now, after startTelemetry, exactly as the apps must do it.
  // A computed specifier: this package does not depend on pg (nor its types); the app under test
  // does.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  const pg = (await import('pg' as string)) as {
    default: { Client: { prototype: { query: unknown } } };
  };
  pgPatched = isWrapped(pg.default.Client.prototype.query);
}

const traffic = recordSampleTraffic(telemetry.meterProvider.getMeter('fixture'));
const timer = setInterval(() => traffic.tick(), 100);
traffic.tick();
process.stdout.write(
  `${JSON.stringify({ ready: true, metricsUrl: telemetry.metricsUrl, pgPatched })}\n`,
);

process.once('SIGTERM', () => {
  clearInterval(timer);
  void telemetry.shutdown().then(() => process.exit(0));
});
