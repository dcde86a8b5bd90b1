export * from './registry.ts';
export * from './cache.ts';
export * from './cache-limits.ts';
export * from './scheduler.ts';
export * from './api.ts';
export * from './database-client.ts';
export * from './notifications.ts';
export * from './instruments.ts';
export { ALL_METRICS } from './all.ts';
