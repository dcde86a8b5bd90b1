import { defineMetrics } from './registry.ts';

/**
 * How the API's listing cache answered a `GET /dags`: from memory (`hit`), from the database
 * storing the answer (`miss`), or from the database without looking (`bypass`: the cache is off,
 * notifications are not being received, or the listing reads dag runs).
 */
export const LISTING_CACHE_RESULTS = ['hit', 'miss', 'bypass'] as const;

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
    // The semantic convention's recommended boundaries, with three below 5 ms: most answers (a
    // DAG cache hit, a listing from memory) take 0.3-3 ms and would all fall in the first bucket.
    buckets: [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5,
      10,
    ],
  },
  listingCacheLookups: {
    name: 'dagbag.api.listing_cache.lookups',
    kind: 'counter',
    unit: '{lookup}',
    description:
      'GET /dags answers by how the listing cache served them: result = hit (memory), miss (read from the database and kept), bypass (read from the database: API_LISTING_CACHE_MAX_BYTES=0, notifications not received, or a listing that reads dag runs).',
    attributes: ['result'],
    emittedBy: ['api'],
  },
});
