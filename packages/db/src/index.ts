export { createPrismaClient, PrismaClient, type ClientOptions, type Prisma } from './client.ts';
export { databaseUnavailableReason, isDatabaseUnavailable, isDataException } from './errors.ts';
export { openDatabase, type OpenDatabase, type OpenDatabaseOptions } from './database.ts';
export { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';
export { defaultDatabaseSettings, DATABASE_SETTINGS, type DatabaseSettings } from './settings.ts';
export { migrateDatabase } from './migrate/operations.ts';
export { createDagVersionLoader, isUuid } from './queries/dag-versions.ts';
export {
  FINISHED_TASK_STATES,
  UNFINISHED_RUN_STATES,
  UNFINISHED_TASK_STATES,
  type TaskInstanceState,
} from './queries/states.ts';
export {
  writeDemoHistory,
  hasAnyDagVersion,
  type DemoDag,
  type DemoRun,
  type DemoVersion,
  type DemoTaskInstance,
} from './queries/seed.ts';
export * from './queries/api/index.ts';
export * from './queries/scheduler/index.ts';
export type { VersionSource } from './queries/run-task-instances.ts';
export * from './queries/dag-files.ts';
export { setNextDagrun, type NextDagrun } from './queries/next-dagrun.ts';
export * from './notify/index.ts';
export * from './retention/index.ts';
