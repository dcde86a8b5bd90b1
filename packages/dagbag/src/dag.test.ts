import { describe, expect, it } from 'vitest';
import { DagValidationError, deserializeDag } from './dag.ts';
import { makeDagDocument } from './testing.ts';

const diamond = {
  dag_id: 'diamond',
  tasks: [
    { task_id: 'load', operator: 'empty', upstream: ['left', 'right'] },
    { task_id: 'left', operator: 'bash', bash_command: 'echo left', upstream: ['start'] },
    { task_id: 'start', operator: 'empty' },
    { task_id: 'right', operator: 'bash', bash_command: 'echo right', upstream: ['start'] },
  ],
};

describe('deserializeDag', () => {
  it('builds the task map, both edge maps, a topological order, roots and leaves', () => {
    const dag = deserializeDag(diamond);
    expect(dag.dagId).toBe('diamond');
    expect([...dag.tasks.keys()]).toEqual(['load', 'left', 'start', 'right']);
    expect(dag.topologicalOrder).toEqual(['start', 'left', 'right', 'load']);
    expect(dag.upstream.get('load')).toEqual(['left', 'right']);
    expect(dag.downstream.get('start')).toEqual(['left', 'right']);
    expect(dag.roots).toEqual(['start']);
    expect(dag.leaves).toEqual(['load']);
    expect(dag.tasks.get('left')).toMatchObject({
      operator: 'bash',
      bashCommand: 'echo left',
      triggerRule: 'all_success',
      retries: 0,
      downstream: ['load'],
    });
  });

  it('orders every task after all of its upstream tasks in a large generated DAG', () => {
    const dag = deserializeDag(makeDagDocument({ taskCount: 500, seed: 11 }));
    const position = new Map(dag.topologicalOrder.map((id, i) => [id, i]));
    expect(position.size).toBe(500);
    for (const [id, ups] of dag.upstream)
      for (const up of ups) expect(position.get(up)!).toBeLessThan(position.get(id)!);
  });

  it('is frozen all the way down', () => {
    const dag = deserializeDag(diamond);
    expect(Object.isFrozen(dag)).toBe(true);
    expect(Object.isFrozen(dag.document.tasks[0]!.upstream)).toBe(true);
    expect(Object.isFrozen(dag.topologicalOrder)).toBe(true);
    expect(() => (dag.roots as string[]).push('x')).toThrow(TypeError);
  });

  it('throws DagValidationError listing each problem with its task', () => {
    try {
      deserializeDag({
        dag_id: 'd',
        tasks: [
          { task_id: 'a', operator: 'empty', upstream: ['ghost'] },
          { task_id: 'a', operator: 'empty' },
        ],
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DagValidationError);
      const problems = (error as DagValidationError).problems;
      expect(problems.map((p) => [p.taskId, p.path])).toEqual([
        ['a', 'tasks[1].task_id'],
        ['a', 'tasks[0].upstream[0]'],
      ]);
    }
  });

  it('handles a chain of 5000 tasks without overflowing the stack', () => {
    const tasks = Array.from({ length: 5000 }, (_, i) => ({
      task_id: `t${i}`,
      operator: 'empty',
      upstream: i === 0 ? [] : [`t${i - 1}`],
    }));
    expect(deserializeDag({ dag_id: 'chain', tasks }).leaves).toEqual(['t4999']);
  });
});
