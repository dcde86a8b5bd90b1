import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;

beforeAll(async () => {
  h = await createHarness();
  // A logs folder that cannot be created (its parent is a file): as a full disk, every open fails.
  const blocker = join(h.workDir, 'blocker');
  await writeFile(blocker, '');
  scheduler = await h.scheduler({ logsRoot: join(blocker, 'logs') });
  await h.writeDag({
    dag_id: 'unlogged',
    tasks: [{ task_id: 't', operator: 'bash', bash_command: 'true' }],
  });
  await scheduler.processDagFiles();
});

afterAll(async () => {
  await h.close();
});

describe('a task whose log cannot be written', () => {
  it('is handed back, its try not counted, and its run goes on, rather than failed', async () => {
    await h.trigger('unlogged', 'r1');
    const ti = () =>
      h.db.prisma.taskInstance.findFirstOrThrow({ where: { dagId: 'unlogged', runId: 'r1' } });
    for (let loop = 0; loop < 10 && (await ti()).tryNumber === 0; loop++)
      await scheduler.runLoopOnce();

    // Before, the try failed at once, and the run with it (with a full disk, a catchup DAG
    // failed 1,100 runs in 90 s).
    expect(await ti()).toMatchObject({ state: 'scheduled', tryNumber: 1, maxTries: 1 });
    expect(await h.runState('unlogged', 'r1')).toBe('running');
    // And the executor takes nothing more for a while, rather than claim and hand back in a loop.
    expect(scheduler.executor.freeSlots).toBe(0);
    await scheduler.runLoopOnce();
    expect(await ti()).toMatchObject({ state: 'scheduled', tryNumber: 1 });
  });
});
