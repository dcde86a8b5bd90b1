import { describe, expect, it } from 'vitest';
import {
  FINISHED_TASK_STATES,
  UNFINISHED_TASK_STATES,
  unfinishedRunStateSql,
  unfinishedTaskStateSql,
} from './states.ts';

describe('state sets', () => {
  it('spell the unfinished task instance predicate from the one list, null included', () => {
    expect(unfinishedTaskStateSql('ti.state').sql).toBe(
      "(ti.state IS NULL OR ti.state IN ('scheduled', 'queued', 'running', 'up_for_retry'))",
    );
    expect(unfinishedRunStateSql('r.state').sql).toBe("r.state IN ('queued', 'running')");
  });

  it('split the task instance states without overlap', () => {
    const unfinished = new Set<string>(UNFINISHED_TASK_STATES);
    expect(FINISHED_TASK_STATES.filter((state) => unfinished.has(state))).toEqual([]);
  });
});
