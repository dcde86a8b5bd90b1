import { defineMetrics } from './registry.ts';

/**
 * The Node.js runtime of each app, from `@opentelemetry/instrumentation-runtime-node`
 * (semantic conventions' `nodejs.*` and `v8js.*`): what a process that runs for weeks is watched
 * by besides its RSS. The heap, to tell a leak from V8's saw-tooth; the event loop's delay and
 * utilization, to tell a busy or blocked process from a slow database. Names, units and
 * attributes are the library's.
 */
const bothApps = ['api', 'scheduler'] as const;
const delay = (which: string, what: string) =>
  ({
    name: `nodejs.eventloop.delay.${which}`,
    kind: 'gauge',
    unit: 's',
    description: `${what} event-loop delay since the previous collection (perf_hooks.monitorEventLoopDelay, 10 ms resolution); absent until it has 5 samples.`,
    attributes: [],
    emittedBy: bothApps,
  }) as const;

export const RUNTIME_METRICS = defineMetrics({
  eventLoopDelayMin: delay('min', 'Smallest'),
  eventLoopDelayMax: delay('max', 'Largest'),
  eventLoopDelayMean: delay('mean', 'Mean'),
  eventLoopDelayStddev: delay('stddev', 'Standard deviation of the'),
  eventLoopDelayP50: delay('p50', 'Median'),
  eventLoopDelayP90: delay('p90', '90th percentile'),
  eventLoopDelayP99: delay('p99', '99th percentile'),
  eventLoopUtilization: {
    name: 'nodejs.eventloop.utilization',
    kind: 'gauge',
    unit: '1',
    description:
      'Share of the time since the previous collection the event loop was busy (0 to 1): near 1, the process is CPU-bound or blocked.',
    attributes: [],
    emittedBy: bothApps,
  },
  eventLoopTime: {
    name: 'nodejs.eventloop.time',
    kind: 'counter',
    unit: 's',
    description: 'Time the event loop has spent in each state (active or idle) since start.',
    attributes: ['nodejs.eventloop.state'],
    emittedBy: bothApps,
  },
  gcDuration: {
    name: 'v8js.gc.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Garbage collection pauses, by kind (major, minor, incremental, weakcb).',
    attributes: ['v8js.gc.type'],
    emittedBy: bothApps,
  },
  heapUsed: {
    name: 'v8js.memory.heap.used',
    kind: 'gauge',
    unit: 'By',
    description:
      'Heap in use, by V8 heap space (summed over spaces: the live heap, what a leak grows; see v8js.memory.heap.space.*).',
    attributes: ['v8js.heap.space.name'],
    emittedBy: bothApps,
  },
  heapSpaceSize: {
    name: 'v8js.memory.heap.space.size',
    kind: 'updowncounter',
    unit: 'By',
    description: 'Heap reserved, by V8 heap space.',
    attributes: ['v8js.heap.space.name'],
    emittedBy: bothApps,
  },
  heapSpaceAvailable: {
    name: 'v8js.memory.heap.space.available_size',
    kind: 'gauge',
    unit: 'By',
    description: 'Heap still available, by V8 heap space.',
    attributes: ['v8js.heap.space.name'],
    emittedBy: bothApps,
  },
  heapSpacePhysical: {
    name: 'v8js.memory.heap.space.physical_size',
    kind: 'gauge',
    unit: 'By',
    description: 'Heap committed in memory, by V8 heap space.',
    attributes: ['v8js.heap.space.name'],
    emittedBy: bothApps,
  },
  activeResources: {
    name: 'v8js.resource.active',
    kind: 'gauge',
    unit: '{resource}',
    description:
      'Resources keeping the event loop alive (timers, sockets, child processes...), by type: a count that only grows is timers or handles piling up.',
    attributes: ['v8js.resource.type'],
    emittedBy: bothApps,
  },
});
