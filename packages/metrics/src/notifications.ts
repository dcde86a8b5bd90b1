import { defineMetrics } from './registry.ts';

/**
 * The PostgreSQL notification listener of each app (`packages/db/src/notify`): what arrived, how
 * late, and how often a gap forced a resync. Channels are the `dagbag_*` ones of the migration.
 */
export const NOTIFICATION_METRICS = defineMetrics({
  received: {
    name: 'dagbag.db.notifications',
    kind: 'counter',
    unit: '{notification}',
    description:
      'PostgreSQL notifications received by this process, by channel (dagbag_run, dagbag_task, dagbag_version, dagbag_dag, dagbag_listing). Flat with DATABASE_NOTIFICATIONS=off.',
    attributes: ['channel'],
    emittedBy: ['api', 'scheduler'],
  },
  resyncs: {
    name: 'dagbag.db.notification.resyncs',
    kind: 'counter',
    unit: '{resync}',
    description:
      'Gaps in the notification stream (the listening connection was lost and re-established): the scheduler looked for work, the DAG cache revalidated every resident hash in one query.',
    attributes: [],
    emittedBy: ['api', 'scheduler'],
  },
  lag: {
    name: 'dagbag.db.notification.lag',
    kind: 'histogram',
    unit: 's',
    description:
      'Time from the commit that sent a notification (database clock) to its receipt by this process (process clock); clock skew between hosts adds to it.',
    attributes: [],
    emittedBy: ['api', 'scheduler'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  },
});
