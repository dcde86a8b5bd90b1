/**
 * Every query the REST API runs (apps/api composes them; it writes no SQL itself). Listing reads
 * never select `serialized_dag.data`: DAG structure is served through the DAG cache instead.
 */
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { createDagQueries } from './dags.ts';
import { createDagRunQueries } from './dag-runs.ts';
import { createEventLogQueries } from './event-logs.ts';
import { createHealthQueries } from './health.ts';
import { createImportErrorQueries } from './import-errors.ts';
import { createTaskInstanceQueries } from './task-instances.ts';
import { createTaskInstanceBatchQueries } from './task-instance-batch.ts';
import { createTaskInstanceChangeQueries } from './task-instance-changes.ts';
import { createTaskInstanceDependencyQueries } from './task-instance-dependencies.ts';
import { createTaskInstanceTryQueries } from './task-instance-tries.ts';

export function createApiQueries(prisma: PrismaClient) {
  return {
    ...createDagQueries(prisma),
    ...createDagRunQueries(prisma),
    ...createTaskInstanceQueries(prisma),
    ...createTaskInstanceBatchQueries(prisma),
    ...createTaskInstanceChangeQueries(prisma),
    ...createTaskInstanceDependencyQueries(prisma),
    ...createTaskInstanceTryQueries(prisma),
    ...createImportErrorQueries(prisma),
    ...createHealthQueries(prisma),
    ...createEventLogQueries(prisma),
  };
}

export type ApiQueries = ReturnType<typeof createApiQueries>;
export { DagRunParentGoneError, DuplicateDagRunError } from './dag-runs.ts';
export { dagListingReadsRuns, listDagsSql } from './dags.ts';
export type { Page, Pagination, SortKey, TimeRange } from './common.ts';
export type {
  DagRow,
  DagVersionSummary,
  LatestVersionDetails,
  DagFilters,
  DagSelection,
  DagSortColumn,
  DagSourceRow,
  DagStatsRow,
  DagWarningRow,
  DagWarningSortColumn,
  DeleteDagOutcome,
  DagVersionSortColumn,
} from './dags.ts';
export type {
  DagRunRow,
  DagRunFilters,
  DagRunSortColumn,
  NewDagRun,
  RetriesOf,
} from './dag-runs.ts';
export type { TaskInstanceRow, TaskInstanceSortColumn } from './task-instances.ts';
export type { ImportErrorRow, ImportErrorSortColumn } from './import-errors.ts';
export { recordEvent } from './event-logs.ts';
export type {
  ChangeEvent,
  NewEvent,
  EventLogRow,
  EventLogFilters,
  EventLogSortColumn,
} from './event-logs.ts';
export type { NumberRange, TaskInstanceBatchFilters } from './task-instance-batch.ts';
export type {
  ClearSelection,
  StateChange,
  TaskInstanceSelection,
} from './task-instance-changes.ts';
export type { TaskInstanceDependencyFacts } from './task-instance-dependencies.ts';
export type { TaskInstanceKey } from './task-instance-tries.ts';
