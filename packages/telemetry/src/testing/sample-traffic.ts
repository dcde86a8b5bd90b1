import type { Meter } from '@opentelemetry/api';
import {
  API_METRICS,
  CACHE_LIMIT_METRICS,
  CACHE_METRICS,
  DATABASE_CLIENT_METRICS,
  EVICTION_REASONS,
  NOTIFICATION_METRICS,
  SCHEDULER_METRICS,
  createInstrument,
  createObservable,
} from '@dagbag/metrics';

const ROLES = ['api', 'scheduler'] as const;

/**
 * Records plausible values for every metric of the registry, both cache roles included, so
 * tests can check exporters and dashboards against data shaped like the apps'. Counters and
 * gauges go through the same descriptor helpers the apps use.
 */
export function recordSampleTraffic(meter: Meter) {
  const hits = createInstrument(meter, CACHE_METRICS.hits);
  const misses = createInstrument(meter, CACHE_METRICS.misses);
  const evictions = createInstrument(meter, CACHE_METRICS.evictions);
  const loadFailures = createInstrument(meter, CACHE_METRICS.loadFailures);
  const loadDuration = createInstrument(meter, CACHE_METRICS.loadDuration);
  const loopDuration = createInstrument(meter, SCHEDULER_METRICS.loopDuration);
  const loopFailures = createInstrument(meter, SCHEDULER_METRICS.loopFailures);
  const runsExamined = createInstrument(meter, SCHEDULER_METRICS.runsExamined);
  const runsCreated = createInstrument(meter, SCHEDULER_METRICS.runsCreated);
  const stateChanges = createInstrument(meter, SCHEDULER_METRICS.taskInstanceStateChanges);
  const heartbeatTimeouts = createInstrument(meter, SCHEDULER_METRICS.heartbeatTimeouts);
  const requestDuration = createInstrument(meter, API_METRICS.requestDuration);
  const listingLookups = createInstrument(meter, API_METRICS.listingCacheLookups);
  const queryDuration = createInstrument(meter, DATABASE_CLIENT_METRICS.operationDuration);
  const notifications = createInstrument(meter, NOTIFICATION_METRICS.received);
  const resyncs = createInstrument(meter, NOTIFICATION_METRICS.resyncs);
  const notificationLag = createInstrument(meter, NOTIFICATION_METRICS.lag);
  const pool = { 'db.client.connection.pool.name': 'localhost:5432/dagbag' };
  const connections = createInstrument(meter, DATABASE_CLIENT_METRICS.connectionCount);
  connections.add(2, { ...pool, 'db.client.connection.state': 'idle' });
  connections.add(1, { ...pool, 'db.client.connection.state': 'used' });
  createInstrument(meter, DATABASE_CLIENT_METRICS.connectionPendingRequests).add(0, pool);
  createInstrument(meter, DATABASE_CLIENT_METRICS.connectionMax).add(10, pool);
  let ticks = 0;

  const observe = (
    descriptor: Parameters<typeof createObservable>[1],
    value: (role: (typeof ROLES)[number]) => number,
  ) =>
    createObservable(meter, descriptor).addCallback((result) => {
      for (const role of ROLES) result.observe(value(role), { 'dagbag.role': role });
    });
  observe(CACHE_METRICS.entries, (role) => (role === 'api' ? 40 : 12) + (ticks % 3));
  observe(CACHE_METRICS.weight, (role) => (role === 'api' ? 4_000_000 : 1_500_000));
  observe(CACHE_LIMIT_METRICS.maxEntries, (role) => (role === 'api' ? 4096 : 0));
  observe(CACHE_LIMIT_METRICS.maxBytes, (role) => (role === 'api' ? 268_435_456 : 1_073_741_824));
  createObservable(meter, SCHEDULER_METRICS.executorSlotsUsed).addCallback((result) =>
    result.observe(ticks % 5),
  );
  createObservable(meter, SCHEDULER_METRICS.executorSlotsTotal).addCallback((result) =>
    result.observe(16),
  );

  return {
    tick() {
      ticks += 1;
      for (const role of ROLES) {
        const attributes = { 'dagbag.role': role };
        hits.add(role === 'api' ? 9 : 19, attributes);
        misses.add(1, { ...attributes, result: 'loaded' });
        if (ticks % 4 === 0) misses.add(1, { ...attributes, result: 'not_found' });
        evictions.add(1, {
          ...attributes,
          reason: EVICTION_REASONS[ticks % EVICTION_REASONS.length]!,
        });
        loadDuration.record(0.002 + (ticks % 10) / 1000, attributes);
        if (ticks % 5 === 0) loadFailures.add(1, attributes);
      }
      loopDuration.record(0.01 + (ticks % 7) / 100);
      runsExamined.add(20);
      if (ticks % 6 === 0) loopFailures.add(1);
      if (ticks % 10 === 0) runsCreated.add(1);
      stateChanges.add(3, { state: 'running' });
      stateChanges.add(2, { state: 'success' });
      if (ticks % 20 === 0) heartbeatTimeouts.add(1, { state: 'up_for_retry' });
      notifications.add(3, { channel: 'dagbag_task' });
      if (ticks % 5 === 0) notifications.add(1, { channel: 'dagbag_run' });
      if (ticks % 50 === 1) resyncs.add(1);
      notificationLag.record(0.0004 + (ticks % 3) / 1000);
      queryDuration.record(0.0005 + (ticks % 4) / 1000, {
        'db.system.name': 'postgresql',
        'db.operation.name': 'SELECT',
      });
      listingLookups.add(8, { result: 'hit' });
      listingLookups.add(1, { result: 'miss' });
      if (ticks % 10 === 0) listingLookups.add(1, { result: 'bypass' });
      for (const route of ['/api/v2/dags', '/api/v2/dags/:dag_id/dagRuns']) {
        requestDuration.record(0.004 + (ticks % 5) / 200, {
          'http.request.method': 'GET',
          'http.route': route,
          'http.response.status_code': 200,
        });
      }
    },
  };
}
