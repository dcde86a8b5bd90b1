/**
 * The notification channels the database triggers of migration `*_notifications` send on, and
 * their payload. This file and that migration are the two halves of one contract; the notifier's
 * tests send through the real triggers, so a name changed on one side only fails them.
 */

export const NOTIFICATION_CHANNELS = [
  /** `dag_run.id`: a run was created, or became queued (cleared), success or failed. */
  'dagbag_run',
  /**
   * `dag_run.id` of a task instance that left queued/running (finished, retried, handed back) or
   * was cleared.
   */
  'dagbag_task',
  /** `dag_version.id`: a version was created, updated in place (new dag_hash) or deleted. */
  'dagbag_version',
  /** `dag.dag_id`: a DAG appeared, was paused or unpaused, or was deleted. */
  'dagbag_dag',
  /**
   * `dag` or `import_error` (the table): a row of it was inserted, changed (any column) or
   * deleted, i.e. what `GET /dags` shows may have changed; one notification per table and
   * transaction. Read by the API's listing cache only (migration `*_listing_notifications`).
   */
  'dagbag_listing',
] as const;

export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

export interface Notification {
  channel: NotificationChannel;
  /** The id the payload names (see NOTIFICATION_CHANNELS). */
  id: string;
  /** Commit time of the sending transaction, epoch milliseconds (database clock, µs precision). */
  committedAtMs: number;
}

/**
 * Whether the channel announces work for the scheduler (a run, a finished task, a version, a DAG
 * paused or unpaused). `dagbag_listing` does not: the processor's every parse and the scheduler's
 * own next_dagrun updates send it, and waking the loop on them would be waste.
 */
export function announcesWork(channel: NotificationChannel): boolean {
  return channel !== 'dagbag_listing';
}

const CHANNELS: ReadonlySet<string> = new Set(NOTIFICATION_CHANNELS);

export function isNotificationChannel(channel: string): channel is NotificationChannel {
  return CHANNELS.has(channel);
}

/** Payload `<commit time in epoch µs>,<id>`; null when it is not one of ours. */
export function parseNotification(
  channel: string,
  payload: string | undefined,
): Notification | null {
  if (!isNotificationChannel(channel) || payload === undefined) return null;
  const comma = payload.indexOf(',');
  if (comma <= 0 || comma === payload.length - 1) return null;
  const micros = Number(payload.slice(0, comma));
  if (!Number.isFinite(micros)) return null;
  return { channel, id: payload.slice(comma + 1), committedAtMs: micros / 1000 };
}
