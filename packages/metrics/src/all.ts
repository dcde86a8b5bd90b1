import { CACHE_METRICS } from './cache.ts';
import type { MetricDescriptor } from './registry.ts';

/** Every metric of every app, in documentation order. Apps add their own groups here. */
export const ALL_METRICS: readonly MetricDescriptor[] = [...Object.values(CACHE_METRICS)];
