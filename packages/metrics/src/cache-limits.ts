import { defineMetrics } from './registry.ts';

/**
 * The configured caps of the DAG cache, exported so a dashboard can draw entries and weight
 * against them. A cap of 0 means "no cap" (docs/architecture.md, The cache) and is exported as 0.
 */
export const CACHE_LIMIT_METRICS = defineMetrics({
  maxEntries: {
    name: 'dagbag.cache.max_entries',
    kind: 'gauge',
    unit: '{entry}',
    description:
      'Configured entry cap of the DAG cache (API_/SCHEDULER_DAG_CACHE_SIZE); 0 = no entry cap.',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
  },
  maxBytes: {
    name: 'dagbag.cache.max_bytes',
    kind: 'gauge',
    unit: 'By',
    description:
      'Configured byte cap of the DAG cache (API_/SCHEDULER_DAG_CACHE_MAX_BYTES); 0 = no byte cap.',
    attributes: ['dagbag.role'],
    emittedBy: ['api', 'scheduler'],
  },
});
