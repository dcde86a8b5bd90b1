/**
 * The API side of the audit trail: every mutating operation records one event, naming the caller
 * (see auth.ts) and what was asked. The event is written by the one query that owns the `log`
 * table (`recordEvent` in @dagbag/db).
 */
import type { ApiQueries, NewEvent } from '@dagbag/db';
import type { Response } from 'express';
import { actorOf } from './auth.ts';

export type ApiEvent = Omit<NewEvent, 'owner'>;

/** Records `event` as done by the caller of this request. */
export function recordApiEvent(queries: ApiQueries, res: Response, event: ApiEvent): Promise<void> {
  return queries.recordEvent({ ...event, owner: actorOf(res) });
}
