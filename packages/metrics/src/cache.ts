import { defineMetrics } from './registry.ts';

/** Eviction reasons, exactly as reported on `dagbag.cache.evictions`. */
export const EVICTION_REASONS = ['capacity', 'bytes', 'ttl', 'inactive', 'invalidated'] as const;
export type EvictionReason = (typeof EVICTION_REASONS)[number];

export const MISS_RESULTS = ['loaded', 'not_found'] as const;
export type MissResult = (typeof MISS_RESULTS)[number];

/** The DAG cache's instruments (README, Metrics). Every point carries `dagbag.role`. */
export const CACHE_METRICS = defineMetrics({
  hits: {
    name: 'dagbag.cache.hits',
    kind: 'counter',
    unit: '{hit}',
    description: 'Lookups answered from the DAG cache without touching the database.',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
  },
  misses: {
    name: 'dagbag.cache.misses',
    kind: 'counter',
    unit: '{miss}',
    description: 'Lookups that went to the loader; result is loaded or not_found.',
    attributes: ['dagbag.role', 'result'],
    emittedBy: ['api', 'scheduler'],
  },
  evictions: {
    name: 'dagbag.cache.evictions',
    kind: 'counter',
    unit: '{eviction}',
    description:
      'Entries removed from the DAG cache, by reason: capacity, bytes, ttl, inactive, invalidated.',
    attributes: ['dagbag.role', 'reason'],
    emittedBy: ['api', 'scheduler'],
  },
  entries: {
    name: 'dagbag.cache.entries',
    kind: 'gauge',
    unit: '{entry}',
    description: 'DAG versions resident in the cache.',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
  },
  weight: {
    name: 'dagbag.cache.weight',
    kind: 'gauge',
    unit: 'By',
    description:
      'Estimated heap retained by resident entries (serialized bytes times the measured factor).',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
  },
  loadFailures: {
    name: 'dagbag.cache.load.failures',
    kind: 'counter',
    unit: '{failure}',
    description:
      'Lookups whose load or hash revalidation failed (database unreachable or erroring, or a stored document that does not validate): neither hits nor misses, so the hit ratio leaves them out.',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
  },
  loadDuration: {
    name: 'dagbag.cache.load.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Time to load, validate and deserialize one DAG version on a miss.',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  },
});
