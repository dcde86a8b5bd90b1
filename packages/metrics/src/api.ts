import { defineMetrics } from './registry.ts';

/**
 * The API server's instruments. `http.server.request.duration` is the OpenTelemetry semantic
 * convention, with the attributes `@opentelemetry/instrumentation-http` gives it; the API records
 * it itself (apps/api/src/request-metrics.ts: one sample per request, with or without traces),
 * and the http instrumentation, patched in only when traces are exported, records none.
 */
export const API_METRICS = defineMetrics({
  requestDuration: {
    name: 'http.server.request.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of HTTP server requests, by method, matched route and response status.',
    attributes: [
      'http.request.method',
      'http.route',
      'http.response.status_code',
      'url.scheme',
      'network.protocol.version',
      'error.type',
    ],
    emittedBy: ['api'],
    // The semantic convention's recommended boundaries.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
  },
});
