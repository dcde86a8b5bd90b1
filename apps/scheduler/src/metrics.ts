/**
 * The scheduler's own instruments, created from the registry's descriptors (SCHEDULER_METRICS).
 * Task state changes are counted per state with attribute sets built once.
 */
import {
  metrics,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
} from '@opentelemetry/api';
import { FINISHED_TASK_STATES, UNFINISHED_TASK_STATES } from '@dagbag/db';
import {
  HEARTBEAT_TIMEOUT_OUTCOMES,
  SCHEDULER_METRICS,
  createInstrument,
  createObservable,
} from '@dagbag/metrics';

/**
 * Every state a task instance can be moved to (the `state` attribute of the state-change counter).
 */
export const TASK_INSTANCE_STATES = [...UNFINISHED_TASK_STATES, ...FINISHED_TASK_STATES] as const;

export class SchedulerMetrics {
  private readonly loopDuration: Histogram;
  private readonly loopFailures: Counter;
  private readonly runsExamined: Counter;
  private readonly runsCreated: Counter;
  private readonly stateChanges: Counter;
  private readonly heartbeatTimeouts: Counter;
  private readonly stateAttributes = new Map<string, Attributes>();

  constructor(
    meter: Meter = metrics.getMeter('@dagbag/scheduler'),
    slots: { used: () => number; total: () => number } = { used: () => 0, total: () => 0 },
  ) {
    this.loopDuration = createInstrument(meter, SCHEDULER_METRICS.loopDuration);
    this.loopFailures = createInstrument(meter, SCHEDULER_METRICS.loopFailures);
    this.runsExamined = createInstrument(meter, SCHEDULER_METRICS.runsExamined);
    this.runsCreated = createInstrument(meter, SCHEDULER_METRICS.runsCreated);
    this.stateChanges = createInstrument(meter, SCHEDULER_METRICS.taskInstanceStateChanges);
    this.heartbeatTimeouts = createInstrument(meter, SCHEDULER_METRICS.heartbeatTimeouts);
    createObservable(meter, SCHEDULER_METRICS.executorSlotsUsed).addCallback((result) =>
      result.observe(slots.used()),
    );
    createObservable(meter, SCHEDULER_METRICS.executorSlotsTotal).addCallback((result) =>
      result.observe(slots.total()),
    );
    // A counter series exists only after its first add: 0 for every known value now, so that
    // rate() and increase() on a dashboard answer 0 rather than "no data" until the first event.
    this.loopFailures.add(0);
    this.runsExamined.add(0);
    this.runsCreated.add(0);
    for (const state of TASK_INSTANCE_STATES) this.stateChanges.add(0, this.attributesFor(state));
    for (const state of HEARTBEAT_TIMEOUT_OUTCOMES)
      this.heartbeatTimeouts.add(0, this.attributesFor(state));
  }

  private attributesFor(state: string): Attributes {
    let attributes = this.stateAttributes.get(state);
    if (attributes === undefined) {
      attributes = { state };
      this.stateAttributes.set(state, attributes);
    }
    return attributes;
  }

  loop(seconds: number): void {
    this.loopDuration.record(seconds);
  }

  loopFailed(): void {
    this.loopFailures.add(1);
  }

  examined(runs: number): void {
    if (runs > 0) this.runsExamined.add(runs);
  }

  created(runs: number): void {
    if (runs > 0) this.runsCreated.add(runs);
  }

  taskState(state: string, count = 1): void {
    if (count > 0) this.stateChanges.add(count, this.attributesFor(state));
  }

  heartbeatTimeout(state: string): void {
    this.heartbeatTimeouts.add(1, this.attributesFor(state));
  }
}
