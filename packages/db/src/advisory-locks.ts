/**
 * Every PostgreSQL advisory lock key the project takes, in one place so that no two collide. The
 * values are fixed: releases running side by side during an upgrade must take the same keys.
 */
export const ADVISORY_LOCK_KEYS = {
  /** Session lock: one migrate at a time (migrate/operations.ts). */
  migrate: 7_270_736_901,
  /** Session lock: one scheduler processes DAG files at a time (queries/dag-files.ts). */
  dagProcessor: 0x0da6ba6,
  /** Transaction lock: schedulers claim task instances one after another (queries/scheduler). */
  taskClaim: 7_270_736_902,
} as const;
