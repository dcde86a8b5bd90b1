import { describe, expect, it } from 'vitest';
import { runLogDir, taskLogPath, UnsafeLogPathError } from './log-path.ts';

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

  it("hold every try of a run under the run's folder", () => {
    expect(runLogDir('/data/logs', ids)).toBe('/data/logs/etl/manual__2026-01-01T00:00:00+00:00');
    expect(taskLogPath('/data/logs', ids).startsWith(`${runLogDir('/data/logs', ids)}/`)).toBe(
      true,
    );
  });

  it.each([
    { runId: '..' },
    { runId: '.' },
    { runId: '../../etc' },
    { runId: 'a/b' },
    { runId: 'a\\b' },
    { runId: 'nul\u0000' },
    { runId: '' },
    { dagId: '../x' },
    { dagId: '..' },
    { taskId: 'a/b' },
    { taskId: '.' },
    { tryNumber: 0 },
    { tryNumber: 1.5 },
  ])('refuse ids that could leave the logs folder: %o', (bad) => {
    expect(() => taskLogPath('/data/logs', { ...ids, ...bad })).toThrowError(UnsafeLogPathError);
  });
});
