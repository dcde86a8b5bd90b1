/**
 * The apps' telemetry for the hit-path benchmark: the real `startTelemetry` (the OpenTelemetry
 * Node SDK with the Prometheus exporter and the OTLP periodic reader), pushing every second to a
 * local sink and scraped every second, so both readers collect while the benchmark runs.
 * Instrumentations stay off: they patch http, express and pg, which a cache lookup never touches.
 */
import { createServer, type Server } from 'node:http';
import { silentLogger } from '@dagbag/logger';
import { startTelemetry, type Telemetry } from '@dagbag/telemetry';
import { freePort } from '@dagbag/config/testing/free-port';

export interface BenchTelemetry {
  telemetry: Telemetry;
  /** OTLP pushes and Prometheus scrapes completed so far: proof that both readers ran. */
  counts(): { pushes: number; scrapes: number };
  stop(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

export async function startBenchTelemetry(): Promise<BenchTelemetry> {
  let pushes = 0;
  let scrapes = 0;
  // Stands in for the collector: accepts and drops every OTLP request.
  const sink = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      pushes++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  const sinkPort = await listen(sink);
  const metricsPort = await freePort();
  // The SDK's exporters read the endpoint from process.env themselves (the OTEL_* contract).
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${sinkPort}`;
  process.env.OTEL_METRIC_EXPORT_INTERVAL = '1000';
  process.env.OTEL_TRACES_EXPORTER = 'none';
  const telemetry = await startTelemetry({
    serviceName: 'dagbag-api',
    metricsPort,
    logger: silentLogger,
    otel: {
      OTEL_EXPORTER_OTLP_ENDPOINT: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
      OTEL_METRIC_EXPORT_INTERVAL: 1000,
      OTEL_TRACES_EXPORTER: 'none',
    },
    instrumentations: false,
  });
  if (!telemetry.otlp.metrics) throw new Error('bench telemetry: the OTLP reader is not attached');
  const scraper = setInterval(() => {
    void fetch(telemetry.metricsUrl).then(async (response) => {
      await response.text();
      if (response.ok) scrapes++;
    });
  }, 1000);
  return {
    telemetry,
    counts: () => ({ pushes, scrapes }),
    async stop() {
      clearInterval(scraper);
      await telemetry.shutdown();
      sink.closeAllConnections();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    },
  };
}
