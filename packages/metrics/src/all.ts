import { API_METRICS } from './api.ts';
import { CACHE_LIMIT_METRICS } from './cache-limits.ts';
import { CACHE_METRICS } from './cache.ts';
import { DATABASE_CLIENT_METRICS } from './database-client.ts';
import { NOTIFICATION_METRICS } from './notifications.ts';
import { RUNTIME_METRICS } from './runtime.ts';
import type { MetricDescriptor } from './registry.ts';
import { SCHEDULER_METRICS } from './scheduler.ts';

/** Every metric of every app, in documentation order. Apps add their own groups here. */
export const ALL_METRICS: readonly MetricDescriptor[] = [
  ...Object.values(CACHE_METRICS),
  ...Object.values(CACHE_LIMIT_METRICS),
  ...Object.values(SCHEDULER_METRICS),
  ...Object.values(API_METRICS),
  ...Object.values(NOTIFICATION_METRICS),
  ...Object.values(DATABASE_CLIENT_METRICS),
  ...Object.values(RUNTIME_METRICS),
];
