export {
  cleanableRunSql,
  deleteRunBatch,
  selectRunBatch,
  type CleanedRun,
  type RunBatchInput,
} from './runs.ts';
export { countEventLogToClean, deleteEventLogBatch } from './event-log.ts';
export { dagVersionsToClean, deleteDagVersions } from './dag-versions.ts';
export { countJobsToClean, deleteJobBatch } from './jobs.ts';
