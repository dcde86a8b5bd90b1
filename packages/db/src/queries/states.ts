/**
 * The sets of states every query and both apps agree on: one home, and the SQL predicates spelled
 * from it (as literal lists, so that the planner sees what an index predicate would).
 */
import { Prisma } from '../generated/prisma/client.ts';

/** Task instance states that still have work ahead (null = not yet scheduled is unfinished too). */
export const UNFINISHED_TASK_STATES = ['scheduled', 'queued', 'running', 'up_for_retry'] as const;
/** States from which a task instance never moves again without a clear. */
export const FINISHED_TASK_STATES = [
  'success',
  'failed',
  'upstream_failed',
  'skipped',
  'removed',
] as const;

export type TaskInstanceState =
  (typeof UNFINISHED_TASK_STATES)[number] | (typeof FINISHED_TASK_STATES)[number];

/** Run states that still have work ahead. */
export const UNFINISHED_RUN_STATES = ['queued', 'running'] as const;

const list = (states: readonly string[]) => states.map((state) => `'${state}'`).join(', ');

/** SQL: `column` (e.g. `ti.state`) is an unfinished task instance state, null included. */
export function unfinishedTaskStateSql(column: string): Prisma.Sql {
  return Prisma.raw(`(${column} IS NULL OR ${column} IN (${list(UNFINISHED_TASK_STATES)}))`);
}

/** SQL: `column` (e.g. `r.state`) is an unfinished run state. */
export function unfinishedRunStateSql(column: string): Prisma.Sql {
  return Prisma.raw(`${column} IN (${list(UNFINISHED_RUN_STATES)})`);
}
