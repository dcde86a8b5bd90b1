import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DagDocumentInput } from '@dagbag/dagbag';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;

beforeAll(async () => {
  h = await createHarness();
  scheduler = await h.scheduler();
});

afterAll(async () => {
  await h.close();
});

/** Stores `before`, has the scheduler's cache read it, then edits the file (updated in place). */
async function editCachedVersion(before: DagDocumentInput, after: DagDocumentInput) {
  await h.writeDag(before);
  await scheduler.processDagFiles();
  const version = await h.db.prisma.dagVersion.findFirstOrThrow({
    where: { dagId: before.dag_id },
  });
  expect(await scheduler.dagBag.get(version.id)).not.toBeNull();
  await h.writeDag(after);
  expect((await scheduler.processDagFiles()).updatedInPlace).toEqual([before.dag_id]);
}

describe('a run triggered right after an in-place DAG edit', () => {
  it('runs the edited definition, not the one the cache still held', async () => {
    const doc = (taskId: string): DagDocumentInput => ({
      dag_id: 'edited',
      tasks: [{ task_id: taskId, operator: 'bash', bash_command: 'true' }],
    });
    await editCachedVersion(doc('old'), doc('new'));
    await h.trigger('edited', 'r1');
    await loopUntil(scheduler, async () => (await h.runState('edited', 'r1')) === 'success');
    expect(await h.taskStates('edited', 'r1')).toEqual({ new: 'success' });
  });

  it('of a DAG that had no tasks gets the task it has now', async () => {
    await editCachedVersion(
      { dag_id: 'was_empty', tasks: [] },
      { dag_id: 'was_empty', tasks: [{ task_id: 'now', operator: 'bash', bash_command: 'true' }] },
    );
    await h.trigger('was_empty', 'r1');
    await loopUntil(scheduler, async () => (await h.runState('was_empty', 'r1')) === 'success');
    expect(await h.taskStates('was_empty', 'r1')).toEqual({ now: 'success' });
  });
});
