export {
  dagDocumentSchema,
  isValidDocument,
  taskDocumentSchema,
  canonicalJson,
  dagHash,
  parseDagSource,
  scheduleTimezone,
  problemsFromZod,
  formatPath,
  IDENTIFIER_PATTERN,
  MAX_IDENTIFIER_LENGTH,
  MAX_SOURCE_BYTES,
  MAX_TASKS,
  LIMITS as DOCUMENT_LIMITS,
  DEFAULT_MAX_ACTIVE_TASKS,
  OPERATORS,
  SCHEDULE_PRESETS,
  TRIGGER_RULES,
} from './document.ts';
export { DAG_FIELD_DOCS, TASK_FIELD_DOCS, type FieldDoc } from './document-fields.ts';
export type {
  DagDocument,
  DagDocumentInput,
  TaskDocument,
  TriggerRule,
  Operator,
  DagProblem,
  ParseResult,
} from './document.ts';
export {
  DAGS_FOLDER_BUNDLE,
  duplicateDagIdProblem,
  formatProblems,
  listDagFiles,
  readDagFile,
  type DagFileText,
} from './dag-files.ts';
export { deserializeDag, buildDag, DagValidationError, type StoredVersion } from './dag.ts';
export { MAX_RUN_ID_LENGTH, RUN_ID_PATTERN, runIdProblem } from './run-id.ts';
export {
  firstDagrun,
  intervalToRun,
  manualDataInterval,
  nextDagrunAfter,
  type DueDag,
  type NextDagrun,
} from './timetable.ts';
export { runLogDir, taskLogPath, UnsafeLogPathError } from './log-path.ts';
export { removeRunLogs, runLogsPresent, realPathInside } from './log-files.ts';
export type { RunLogIds, TryLogIds } from './log-path.ts';
export type { Dag, Task } from './dag.ts';
export { DagBag, lruOptionsFor } from './dagbag.ts';
export type {
  DagBagOptions,
  DagBagStats,
  DagVersionEntry,
  DagVersionLoader,
  DagVersionRow,
  EntryRenderer,
  RenderedEntry,
  ResolvedVersion,
  VersionRef,
  Clock,
} from './dagbag.ts';
export { entryFromRow } from './entry.ts';
export {
  cacheSettingsFrom,
  cacheSettingsShape,
  defaultCacheSettings,
  validateCacheSettings,
  CACHE_VARIABLES,
  CACHE_VARIABLE_MEANINGS,
  SETTING_RANGES,
} from './settings.ts';
export type {
  CacheRole,
  CacheVariable,
  CacheVariableSetting,
  DagCacheSettings,
} from './settings.ts';
export { FrequencySketch } from './sketch.ts';
export {
  HEAP_BYTES_PER_ENTRY,
  HEAP_BYTES_PER_SERIALIZED_BYTE,
  entryWeight,
  serializedSize,
} from './weight.ts';
