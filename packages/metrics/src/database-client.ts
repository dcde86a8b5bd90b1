import { defineMetrics } from './registry.ts';

/**
 * The OpenTelemetry database client semantic conventions in both apps:
 * `db.client.operation.duration` is recorded by `@opentelemetry/instrumentation-pg` (which creates
 * the instrument itself, so the apps must not); `db.client.connection.*` are observed from the
 * pool by `@dagbag/db` (pool-metrics.ts), the instrumentation's event-driven copies being dropped
 * by a view. They are listed so that every series on `/metrics` is documented and checked.
 */
export const DATABASE_CLIENT_METRICS = defineMetrics({
  operationDuration: {
    name: 'db.client.operation.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of PostgreSQL queries, by operation and, on failure, error type.',
    attributes: [
      'db.system.name',
      'db.namespace',
      'db.operation.name',
      'error.type',
      'server.address',
      'server.port',
    ],
    emittedBy: ['api', 'scheduler'],
    // The instrumentation's own boundaries (its `advice`), repeated so a view keeps them.
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
  },
  connectionCount: {
    name: 'db.client.connection.count',
    kind: 'updowncounter',
    unit: '{connection}',
    description: 'Open connections of the PostgreSQL pool, by state (idle or used).',
    attributes: ['db.client.connection.pool.name', 'db.client.connection.state'],
    emittedBy: ['api', 'scheduler'],
  },
  connectionPendingRequests: {
    name: 'db.client.connection.pending_requests',
    kind: 'updowncounter',
    unit: '{connection}', // as the instrumentation declares it
    description: 'Queries waiting for a free connection of the PostgreSQL pool.',
    attributes: ['db.client.connection.pool.name'],
    emittedBy: ['api', 'scheduler'],
  },
  connectionMax: {
    name: 'db.client.connection.max',
    kind: 'updowncounter',
    unit: '{connection}',
    description: 'The most connections the PostgreSQL pool may open (DATABASE_POOL_MAX).',
    attributes: ['db.client.connection.pool.name'],
    emittedBy: ['api', 'scheduler'],
  },
});
