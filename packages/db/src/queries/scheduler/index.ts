export * from './types.ts';
export * from './jobs.ts';
export * from './runs.ts';
export * from './examine.ts';
export * from './task-instances.ts';
export * from './maintenance.ts';
