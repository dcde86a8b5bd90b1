export * from './registry.ts';
export * from './cache.ts';
export { ALL_METRICS } from './all.ts';
