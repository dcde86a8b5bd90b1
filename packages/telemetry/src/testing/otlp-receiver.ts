import { createServer, type Server } from 'node:http';

/** An OTLP attribute in the JSON encoding (`OTEL_EXPORTER_OTLP_*_PROTOCOL=http/json`). */
export interface OtlpAttribute {
  key: string;
  value: {
    stringValue?: string;
    intValue?: string | number;
    boolValue?: boolean;
    doubleValue?: number;
  };
}

export interface OtlpDataPoint {
  attributes?: OtlpAttribute[];
  asInt?: string | number;
  asDouble?: number;
  count?: string | number;
}

export interface OtlpMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints: OtlpDataPoint[] };
  gauge?: { dataPoints: OtlpDataPoint[] };
  histogram?: { dataPoints: OtlpDataPoint[] };
}

export interface OtlpMetricsRequest {
  resourceMetrics: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeMetrics: Array<{ scope?: { name: string }; metrics: OtlpMetric[] }>;
  }>;
}

export interface OtlpSpan {
  name: string;
  kind?: number;
  attributes?: OtlpAttribute[];
}

export interface OtlpTracesRequest {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ scope?: { name: string }; spans: OtlpSpan[] }>;
  }>;
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every `/v1/metrics` request body received so far. */
  readonly metrics: OtlpMetricsRequest[];
  /** Every `/v1/traces` request body received so far. */
  readonly traces: OtlpTracesRequest[];
  close(): Promise<void>;
}

/** The string value of an attribute, or undefined. */
export function attribute(
  attributes: readonly OtlpAttribute[] | undefined,
  key: string,
): string | undefined {
  const found = attributes?.find((a) => a.key === key)?.value;
  if (found === undefined) return undefined;
  return found.stringValue ?? (found.intValue !== undefined ? String(found.intValue) : undefined);
}

/** The data points of a metric whatever its kind. */
export function dataPoints(metric: OtlpMetric): OtlpDataPoint[] {
  return metric.sum?.dataPoints ?? metric.gauge?.dataPoints ?? metric.histogram?.dataPoints ?? [];
}

/**
 * A minimal OTLP/HTTP receiver (JSON encoding only) on 127.0.0.1 that keeps what it was sent and
 * answers 200, like a collector would. Bodies that are not JSON (protobuf) are answered 415.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const metrics: OtlpMetricsRequest[] = [];
  const traces: OtlpTracesRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        response.writeHead(415, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (request.url === '/v1/metrics') metrics.push(body as OtlpMetricsRequest);
      else if (request.url === '/v1/traces') traces.push(body as OtlpTracesRequest);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('receiver has no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    metrics,
    traces,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
