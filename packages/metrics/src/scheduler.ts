import { defineMetrics } from './registry.ts';

/**
 * Where a task instance went when its heartbeat timed out (docs/architecture.md, scheduling loop).
 */
export const HEARTBEAT_TIMEOUT_OUTCOMES = ['failed', 'up_for_retry'] as const;

/**
 * The scheduling loop's own instruments. They carry no `dagbag.role`: only the scheduler emits
 * them, and `service.name` (Prometheus: `job`) already says which process it is.
 */
export const SCHEDULER_METRICS = defineMetrics({
  loopDuration: {
    name: 'dagbag.scheduler.loop.duration',
    kind: 'histogram',
    unit: 's',
    description:
      'Wall time of one scheduling loop iteration, from creating due runs to handing work to the executor.',
    attributes: [],
    emittedBy: ['scheduler'],
    // The loop sleeps SCHEDULER_LOOP_INTERVAL_MS (1 s) between iterations: anything near that is
    // trouble.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  loopFailures: {
    name: 'dagbag.scheduler.loop.failures',
    kind: 'counter',
    unit: '{loop}',
    description:
      'Scheduling loop iterations that failed (database unreachable, a statement or transaction failing) and are retried with backoff; they count in the loop duration too.',
    attributes: [],
    emittedBy: ['scheduler'],
  },
  runsExamined: {
    name: 'dagbag.scheduler.runs.examined',
    kind: 'counter',
    unit: '{run}',
    description:
      'Running DAG runs examined by the scheduling loop (at most SCHEDULER_MAX_DAGRUNS_PER_LOOP per loop).',
    attributes: [],
    emittedBy: ['scheduler'],
  },
  runsCreated: {
    name: 'dagbag.scheduler.runs.created',
    kind: 'counter',
    unit: '{run}',
    description: 'DAG runs created by the scheduler because their schedule came due.',
    attributes: [],
    emittedBy: ['scheduler'],
  },
  taskInstanceStateChanges: {
    name: 'dagbag.scheduler.task_instance.state_changes',
    kind: 'counter',
    unit: '{change}',
    description:
      'Task instance state transitions made by the scheduler and its executor, by the new state.',
    attributes: ['state'],
    emittedBy: ['scheduler'],
  },
  heartbeatTimeouts: {
    name: 'dagbag.scheduler.task_instance.heartbeat_timeouts',
    kind: 'counter',
    unit: '{task_instance}',
    description:
      'Task instances whose heartbeat stopped for TASK_HEARTBEAT_TIMEOUT_SECONDS; state is failed or up_for_retry.',
    attributes: ['state'],
    emittedBy: ['scheduler'],
  },
  executorSlotsUsed: {
    name: 'dagbag.scheduler.executor.slots.used',
    kind: 'gauge',
    unit: '{slot}',
    description: 'Task instances the local executor is running right now.',
    attributes: [],
    emittedBy: ['scheduler'],
  },
  executorSlotsTotal: {
    name: 'dagbag.scheduler.executor.slots.total',
    kind: 'gauge',
    unit: '{slot}',
    description: 'Executor slots available in total (SCHEDULER_PARALLELISM).',
    attributes: [],
    emittedBy: ['scheduler'],
  },
});
