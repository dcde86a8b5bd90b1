export { createScheduler, type Scheduler, type SchedulerOptions } from './scheduler.ts';
export {
  readSchedulerConfig,
  SCHEDULER_OWN_SETTINGS,
  SCHEDULER_SETTINGS,
  SCHEDULER_SETTING_DESCRIPTORS,
  type SchedulerConfig,
} from './config.ts';
export { DAGS_FOLDER_BUNDLE, formatProblems } from '@dagbag/dagbag';
export { DagFileProcessor, type ProcessorSummary } from './processor/dag-file-processor.ts';
export { SchedulingLoop, type LoopSummary } from './loop/scheduling-loop.ts';
export { LocalExecutor } from './executor/local-executor.ts';
