import { MeterProvider, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { SCHEDULER_METRICS } from '@dagbag/metrics';
import { collectByName as collect, InMemoryReader } from '@dagbag/metrics/testing';
import { describe, expect, it } from 'vitest';
import { SchedulerMetrics, TASK_INSTANCE_STATES } from './metrics.ts';

function byState(metric: MetricData | undefined): Record<string, number> {
  return Object.fromEntries(
    ((metric?.dataPoints ?? []) as DataPoint<number>[]).map((point) => [
      String(point.attributes.state),
      point.value,
    ]),
  );
}

describe('SchedulerMetrics', () => {
  it('reports 0 for every task state, heartbeat outcome and run counter before anything happened', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    new SchedulerMetrics(provider.getMeter('test'), { used: () => 0, total: () => 16 });

    const metrics = await collect(reader);
    expect(byState(metrics.get(SCHEDULER_METRICS.taskInstanceStateChanges.name))).toEqual(
      Object.fromEntries(TASK_INSTANCE_STATES.map((state) => [state, 0])),
    );
    expect(byState(metrics.get(SCHEDULER_METRICS.heartbeatTimeouts.name))).toEqual({
      failed: 0,
      up_for_retry: 0,
    });
    for (const counter of [SCHEDULER_METRICS.runsExamined, SCHEDULER_METRICS.runsCreated]) {
      expect(
        metrics.get(counter.name)?.dataPoints.map((point) => point.value),
        counter.name,
      ).toEqual([0]);
    }
    expect(
      metrics
        .get(SCHEDULER_METRICS.executorSlotsTotal.name)
        ?.dataPoints.map((point) => point.value),
    ).toEqual([16]);
    await provider.shutdown();
  });

  it('counts state changes and heartbeat timeouts on top of the zeros, per state', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const scheduler = new SchedulerMetrics(provider.getMeter('test'));
    scheduler.taskState('running');
    scheduler.taskState('queued', 3);
    scheduler.heartbeatTimeout('up_for_retry');
    scheduler.examined(20);
    scheduler.examined(0);

    const metrics = await collect(reader);
    const states = byState(metrics.get(SCHEDULER_METRICS.taskInstanceStateChanges.name));
    expect(states).toMatchObject({ running: 1, queued: 3, success: 0 });
    expect(byState(metrics.get(SCHEDULER_METRICS.heartbeatTimeouts.name))).toEqual({
      failed: 0,
      up_for_retry: 1,
    });
    expect(
      metrics.get(SCHEDULER_METRICS.runsExamined.name)?.dataPoints.map((point) => point.value),
    ).toEqual([20]);
    await provider.shutdown();
  });
});
