export {
  migrateDatabase,
  MigrationError,
  createMigration,
  diffDatamodels,
  latestSnapshot,
  isEmptyScript,
  DATAMODEL_SNAPSHOT,
} from './operations.ts';
export { readMigrationList, readSchemaFile, PRISMA_PATHS } from './files.ts';
export { withSchemaEngine } from './engine.ts';
