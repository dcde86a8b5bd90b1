import {
  MeterProvider,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  CACHE_LIMIT_METRICS,
  CACHE_METRICS,
  EVICTION_REASONS,
  MISS_RESULTS,
} from '@dagbag/metrics';
import { collectByName as collect, InMemoryReader } from '@dagbag/metrics/testing';
import { describe, expect, it } from 'vitest';
import { DagBag } from './dagbag.ts';
import { dagDocumentSchema } from './document.ts';
import { ManualClock, MemoryDagVersionLoader } from './testing.ts';

function value(metric: MetricData | undefined, attributes: Record<string, string>): unknown {
  const point = (metric?.dataPoints as DataPoint<unknown>[] | undefined)?.find((p) =>
    Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
  );
  return point?.value;
}

describe('DagBag metrics', () => {
  it('a scripted sequence gives exact counter values, with dagbag.role on every point', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const loader = new MemoryDagVersionLoader();
    for (let i = 1; i <= 4; i++) {
      loader.add(
        dagDocumentSchema.parse({
          dag_id: `dag_${i}`,
          tasks: [{ task_id: 't', operator: 'empty' }],
        }),
        { versionId: `v${i}`, serializedBytes: 100 },
      );
    }
    const clock = new ManualClock();
    const bag = new DagBag({
      role: 'scheduler',
      loader,
      clock,
      admission: false,
      meter: provider.getMeter('test'),
      settings: { maxEntries: 2, maxBytes: 0, ttlSeconds: 60, revalidateSeconds: 0 },
    });

    await bag.get('v1'); // miss loaded
    await bag.get('v1'); // hit
    await bag.get('v2'); // miss loaded
    await bag.get('v3'); // miss loaded, evicts v1 (capacity)
    await bag.get('missing'); // miss not_found
    await bag.get('missing'); // hit (negative cache)
    bag.invalidate('v2'); // invalidated
    clock.advanceSeconds(61);
    await bag.get('v3'); // expired (ttl), miss loaded
    loader.active = new Set(['v1']);
    await bag.reconcile(); // v3 no longer in use: inactive

    const metrics = await collect(reader);
    const role = { 'dagbag.role': 'scheduler' };
    expect(value(metrics.get(CACHE_METRICS.hits.name), role)).toBe(2);
    expect(value(metrics.get(CACHE_METRICS.misses.name), { ...role, result: 'loaded' })).toBe(4);
    expect(value(metrics.get(CACHE_METRICS.misses.name), { ...role, result: 'not_found' })).toBe(1);
    const evictions = metrics.get(CACHE_METRICS.evictions.name);
    expect(
      Object.fromEntries(
        ['capacity', 'bytes', 'ttl', 'inactive', 'invalidated'].map((reason) => [
          reason,
          value(evictions, { ...role, reason }),
        ]),
      ),
    ).toEqual({ capacity: 1, bytes: 0, ttl: 1, inactive: 1, invalidated: 1 });
    expect(value(metrics.get(CACHE_METRICS.entries.name), role)).toBe(0);
    expect(value(metrics.get(CACHE_METRICS.weight.name), role)).toBe(bag.stats().weight_bytes);
    expect(value(metrics.get(CACHE_LIMIT_METRICS.maxEntries.name), role)).toBe(2);
    expect(value(metrics.get(CACHE_LIMIT_METRICS.maxBytes.name), role)).toBe(0);
    const loads = value(metrics.get(CACHE_METRICS.loadDuration.name), role) as Histogram;
    expect(loads.count).toBe(5);
    expect(loads.buckets.boundaries).toEqual(CACHE_METRICS.loadDuration.buckets);

    for (const metric of metrics.values()) {
      for (const point of metric.dataPoints as DataPoint<unknown>[])
        expect(point.attributes['dagbag.role'], metric.descriptor.name).toBe('scheduler');
    }
    for (const descriptor of [
      ...Object.values(CACHE_METRICS),
      ...Object.values(CACHE_LIMIT_METRICS),
    ]) {
      expect(metrics.get(descriptor.name)?.descriptor).toMatchObject({
        unit: descriptor.unit,
        description: descriptor.description,
      });
    }
    bag.close();
    await provider.shutdown();
  });

  it('counts lookups whose load or revalidation failed, apart from hits and misses', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const loader = new MemoryDagVersionLoader();
    loader.add(
      dagDocumentSchema.parse({ dag_id: 'd', tasks: [{ task_id: 't', operator: 'empty' }] }),
      {
        versionId: 'v1',
      },
    );
    const clock = new ManualClock();
    const bag = new DagBag({
      role: 'api',
      loader,
      clock,
      meter: provider.getMeter('test'),
      settings: { revalidateSeconds: 30 },
    });
    await bag.get('v1'); // miss loaded
    const unreachable = () => Promise.reject(new Error('database unreachable'));
    loader.loadVersions = unreachable;
    loader.readHash = unreachable;
    await expect(bag.get('v2')).rejects.toThrow('database unreachable'); // load fails
    clock.advanceSeconds(31);
    await expect(bag.get('v1')).rejects.toThrow('database unreachable'); // revalidation fails

    const metrics = await collect(reader);
    const role = { 'dagbag.role': 'api' };
    expect(value(metrics.get(CACHE_METRICS.loadFailures.name), role)).toBe(2);
    expect(value(metrics.get(CACHE_METRICS.hits.name), role)).toBe(0);
    expect(value(metrics.get(CACHE_METRICS.misses.name), { ...role, result: 'loaded' })).toBe(1);
    expect(bag.stats().load_failures).toBe(2);
    bag.close();
    await provider.shutdown();
  });

  it('a cache nobody has asked yet reports 0 for every eviction reason and miss result, and its configured caps', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const bag = new DagBag({
      role: 'api',
      loader: new MemoryDagVersionLoader(),
      clock: new ManualClock(),
      meter: provider.getMeter('test'),
      settings: { maxEntries: 4096, maxBytes: 268_435_456 },
    });

    const metrics = await collect(reader);
    const role = { 'dagbag.role': 'api' };
    const evictions = metrics.get(CACHE_METRICS.evictions.name);
    expect(
      Object.fromEntries(
        EVICTION_REASONS.map((reason) => [reason, value(evictions, { ...role, reason })]),
      ),
    ).toEqual({
      capacity: 0,
      bytes: 0,
      ttl: 0,
      inactive: 0,
      invalidated: 0,
    });
    const misses = metrics.get(CACHE_METRICS.misses.name);
    expect(
      Object.fromEntries(
        MISS_RESULTS.map((result) => [result, value(misses, { ...role, result })]),
      ),
    ).toEqual({ loaded: 0, not_found: 0 });
    expect(value(metrics.get(CACHE_METRICS.hits.name), role)).toBe(0);
    expect(value(metrics.get(CACHE_METRICS.loadFailures.name), role)).toBe(0);
    expect(value(metrics.get(CACHE_METRICS.entries.name), role)).toBe(0);
    expect(value(metrics.get(CACHE_LIMIT_METRICS.maxEntries.name), role)).toBe(4096);
    expect(value(metrics.get(CACHE_LIMIT_METRICS.maxBytes.name), role)).toBe(268_435_456);
    bag.close();
    await provider.shutdown();
  });
});
