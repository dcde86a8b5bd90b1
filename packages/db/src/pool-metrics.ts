import type { Attributes, BatchObservableCallback, Meter } from '@opentelemetry/api';
import { DATABASE_CLIENT_METRICS, createObservable } from '@dagbag/metrics';
import type pg from 'pg';

/**
 * `db.client.connection.count` (by state), `.pending_requests` and `.max` of one pg pool, read
 * from the pool when a reader collects: what it holds at that moment.
 *
 * The pg instrumentation's own copies (dropped by @dagbag/telemetry's views) are updated only on
 * pool events and read the pool inside them: pg-pool emits `release` before the client is idle
 * again, so a pool at rest showed a used connection and one idle too few, and queries queueing
 * for a full pool emit no event at all, so pending_requests stayed 0 exactly when the pool was
 * saturated. Returns what detaches the callback (the pool's end does it too, after reporting
 * zeros).
 */
export function observePool(meter: Meter, pool: pg.Pool, poolName: string): () => void {
  const count = createObservable(meter, DATABASE_CLIENT_METRICS.connectionCount);
  const pending = createObservable(meter, DATABASE_CLIENT_METRICS.connectionPendingRequests);
  const max = createObservable(meter, DATABASE_CLIENT_METRICS.connectionMax);
  const name: Attributes = { 'db.client.connection.pool.name': poolName };
  const used: Attributes = { ...name, 'db.client.connection.state': 'used' };
  const idle: Attributes = { ...name, 'db.client.connection.state': 'idle' };
  const observables = [count, pending, max];
  const callback: BatchObservableCallback = (result) => {
    // An ended (or ending) pool holds nothing and may open nothing: its last figures are zeros.
    const ended = pool.ending || pool.ended;
    result.observe(count, ended ? 0 : pool.totalCount - pool.idleCount, used);
    result.observe(count, ended ? 0 : pool.idleCount, idle);
    result.observe(pending, ended ? 0 : pool.waitingCount, name);
    result.observe(max, ended ? 0 : (pool.options.max ?? 10), name);
    if (ended) detach();
  };
  const detach = () => meter.removeBatchObservableCallback(callback, observables);
  meter.addBatchObservableCallback(callback, observables);
  return detach;
}
