/**
 * What a DAG cache does with notifications, for every app that has one: a version updated in
 * place (or deleted) leaves the cache at once; after a gap, every resident hash is checked in one
 * query. The periodic hash revalidation stays underneath, for deployments without notifications.
 */
import type { DagBag } from '@dagbag/dagbag';
import type { Logger } from '@dagbag/logger';
import type { Notifier } from './notifier.ts';

/** The log lines of a gap in the notifications (operators and the outage scenario look for them). */
export const NOTIFICATION_GAP_LOG = {
  lost: 'database notifications interrupted; the DAG cache relies on hash revalidation until they are back',
  back: 'database notifications back; DAG cache resynchronised',
} as const;

export function keepCacheCoherent(
  notifier: Notifier,
  dagBag: Pick<DagBag, 'invalidate' | 'revalidateResident'>,
  logger: Logger,
): () => void {
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
        dagBag.revalidateResident().then(
          ({ checked, invalidated }) =>
            logger.info({ checked, invalidated }, NOTIFICATION_GAP_LOG.back),
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
