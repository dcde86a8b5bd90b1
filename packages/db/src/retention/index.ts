export {
  cleanHistory,
  CLEAN_TABLES,
  DEFAULT_CLEAN_BATCH_SIZE,
  type CleanCounts,
  type CleanOptions,
  type CleanTable,
} from './clean.ts';
export {
  CLEAN_OPTIONS,
  CLEAN_USAGE,
  CleanUsageError,
  formatCleanCounts,
  parseCleanArgs,
  parseCleanBefore,
  type CleanRequest,
} from './command.ts';
