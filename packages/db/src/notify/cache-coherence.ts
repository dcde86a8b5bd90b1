/**
 * What a DAG cache does with notifications, for every app that has one: a version updated in
 * place (or deleted) leaves the cache at once; after a gap, every resident hash is checked in one
 * query. The periodic hash revalidation stays underneath, for deployments without notifications.
 */
import type { DagBag } from '@dagbag/dagbag';
import type { Logger } from '@dagbag/logger';
import type { Notifier } from './notifier.ts';

/**
 * The log lines of a gap in the notifications (operators and the outage scenario look for them).
 */
export const NOTIFICATION_GAP_LOG = {
  lost: 'database notifications interrupted; the DAG cache relies on hash revalidation until they are back',
  back: 'database notifications back; DAG cache resynchronised',
} as const;

export interface CacheCoherenceOptions {
  /**
   * After a gap, also load the versions of unfinished runs and task instances in one query (the
   * scheduler's working set; an API cache has no such set): what the gap hid is then warm before
   * the loop that the resync wakes meets it.
   */
  prewarmAfterGap?: boolean;
}

export function keepCacheCoherent(
  notifier: Notifier,
  dagBag: Pick<DagBag, 'invalidate' | 'revalidateResident' | 'prewarm'>,
  logger: Logger,
  { prewarmAfterGap = false }: CacheCoherenceOptions = {},
): () => void {
  const resynchronise = async () => {
    const { checked, invalidated } = await dagBag.revalidateResident();
    const prewarmed = prewarmAfterGap ? (await dagBag.prewarm()).loaded : undefined;
    return { checked, invalidated, ...(prewarmed === undefined ? {} : { prewarmed }) };
  };

  return notifier.subscribe((event) => {
    switch (event.type) {
      case 'notification':
        if (event.channel === 'dagbag_version') dagBag.invalidate(event.id);
        break;
      case 'lost':
        logger.warn({ err: event.error }, NOTIFICATION_GAP_LOG.lost);
        break;
      case 'listening':
        if (!event.resync) break;
        resynchronise().then(
          (figures) => logger.info(figures, NOTIFICATION_GAP_LOG.back),
          (error: unknown) =>
            logger.warn(
              { err: error },
              'resynchronising the DAG cache failed; hash revalidation covers it',
            ),
        );
        break;
    }
  });
}
