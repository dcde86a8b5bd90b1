import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** The task instances of a run in each state. */
async function statesOf(dagId: string, runId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const state of Object.values(await h.taskStates(dagId, runId)))
    counts[state ?? 'none'] = (counts[state ?? 'none'] ?? 0) + 1;
  return counts;
}

describe("a DAG file's max_active_tasks", () => {
  it('lets at most that many task instances of a run run at once, the others waiting', async () => {
    await h.writeDag({
      dag_id: 'wide',
      max_active_tasks: 2,
      // Five independent tasks that wait for a file, so the test decides when they end.
      tasks: Array.from({ length: 5 }, (_, i) => ({
        task_id: `t${i}`,
        operator: 'bash',
        bash_command: `while [ ! -e "${h.workDir}/wide-go" ]; do sleep 0.05; done`,
      })),
    });
    await scheduler.processDagFiles();
    expect(
      (await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'wide' } })).maxActiveTasks,
    ).toBe(2);
    await h.trigger('wide', 'r1');

    await loopUntil(scheduler, async () => (await statesOf('wide', 'r1')).running === 2);
    for (let i = 0; i < 3; i++) await scheduler.runLoopOnce();
    expect(await statesOf('wide', 'r1')).toEqual({ running: 2, scheduled: 3 });

    await h.writeRaw('../wide-go', '');
    await loopUntil(scheduler, async () => (await h.runState('wide', 'r1')) === 'success');
  });

  it('is 16 for a file that leaves it out, as Airflow', async () => {
    await h.writeDag({ dag_id: 'plain', tasks: [{ task_id: 't', operator: 'empty' }] });
    await scheduler.processDagFiles();
    const dag = await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'plain' } });
    expect(dag.maxActiveTasks).toBe(16);
  });
});
