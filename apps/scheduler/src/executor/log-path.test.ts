import { describe, expect, it } from 'vitest';
import { taskLogPath, UnsafeLogPathError } from './log-path.ts';

const ids = {
  dagId: 'etl',
  runId: 'manual__2026-01-01T00:00:00+00:00',
  taskId: 'load',
  tryNumber: 2,
};

describe('task log paths', () => {
  it('are <root>/<dag_id>/<run_id>/<task_id>/<try>.log', () => {
    expect(taskLogPath('/data/logs', ids)).toBe(
      '/data/logs/etl/manual__2026-01-01T00:00:00+00:00/load/2.log',
    );
  });

  it.each([
    { runId: '..' },
    { runId: '../../etc' },
    { runId: 'a/b' },
    { dagId: '../x' },
    { taskId: 'a/b' },
    { tryNumber: 0 },
  ])('refuse ids that could leave the logs folder: %o', (bad) => {
    expect(() => taskLogPath('/data/logs', { ...ids, ...bad })).toThrowError(UnsafeLogPathError);
  });
});
