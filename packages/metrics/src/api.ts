import { defineMetrics } from './registry.ts';

/**
 * The API server's instruments. `http.server.request.duration` is the OpenTelemetry semantic
 * convention; `@opentelemetry/instrumentation-http` records it (with `http.route` filled in by
 * the Express instrumentation), so the app must not create a second instrument of that name.
 * It is listed here so that dashboards and docs are checked against it like every other metric.
 */
export const API_METRICS = defineMetrics({
  requestDuration: {
    name: 'http.server.request.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of HTTP server requests, by method, matched route and response status.',
    attributes: ['http.request.method', 'http.route', 'http.response.status_code'],
    emittedBy: ['api'],
    // The semantic convention's recommended boundaries.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
  },
});
