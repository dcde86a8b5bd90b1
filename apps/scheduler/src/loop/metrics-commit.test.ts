import { MeterProvider, type DataPoint } from '@opentelemetry/sdk-metrics';
import { SCHEDULER_METRICS } from '@dagbag/metrics';
import { collectByName, InMemoryReader } from '@dagbag/metrics/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../testing/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({ dag_id: 'single', tasks: [{ task_id: 'only', operator: 'empty' }] });
});

afterAll(async () => {
  await h.close();
});

/** Makes the examining transaction fail where it writes a running run (finished or examined). */
async function failExamining(on: boolean): Promise<void> {
  if (!on) {
    await h.db.prisma.$executeRawUnsafe('DROP TRIGGER fail_examining ON dag_run');
    return;
  }
  await h.db.prisma.$executeRawUnsafe(`
    CREATE OR REPLACE FUNCTION fail_examining() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'examining fails (test)'; END $$`);
  await h.db.prisma.$executeRawUnsafe(`
    CREATE TRIGGER fail_examining BEFORE UPDATE ON dag_run FOR EACH ROW
    WHEN (OLD.state = 'running')
    EXECUTE FUNCTION fail_examining()`);
}

describe('the scheduler metrics of an examining transaction', () => {
  it('count task state changes and examined runs once, when the transaction commits', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const scheduler = await h.scheduler({
      meter: provider.getMeter('test'),
      notifications: false,
      processDagFiles: false,
    });
    await scheduler.processDagFiles();
    await h.trigger('single', 'r1');

    // The run starts, its task is decided, then the transaction rolls back: nothing changed.
    await failExamining(true);
    await expect(scheduler.runLoopOnce()).rejects.toThrow();
    expect(await h.taskStates('single', 'r1')).toEqual({ only: null });
    await failExamining(false);
    await scheduler.runLoopOnce();
    expect(await h.taskStates('single', 'r1')).toEqual({ only: 'success' });

    const metrics = await collectByName(reader);
    const states = Object.fromEntries(
      (
        metrics.get(SCHEDULER_METRICS.taskInstanceStateChanges.name)!
          .dataPoints as DataPoint<number>[]
      ).map((point) => [String(point.attributes.state), point.value]),
    );
    expect(states.success).toBe(1);
    expect(
      metrics.get(SCHEDULER_METRICS.runsExamined.name)?.dataPoints.map((point) => point.value),
    ).toEqual([1]);
    // The failed loop is told apart from the others (it counts in the loop duration too).
    expect(
      metrics.get(SCHEDULER_METRICS.loopFailures.name)?.dataPoints.map((point) => point.value),
    ).toEqual([1]);
    expect(
      (metrics.get(SCHEDULER_METRICS.loopDuration.name)?.dataPoints[0]?.value as { count: number })
        .count,
    ).toBe(2);
    await scheduler.stop(0);
    await provider.shutdown();
  });
});
