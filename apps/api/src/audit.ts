/**
 * The API side of the audit trail: every mutating operation records one event, naming the caller
 * (see auth.ts) and what was asked. The query that makes the change writes the event in the
 * change's own transaction (`ChangeEvent` in @dagbag/db), so an answer other than success means
 * nothing changed and success means the event exists.
 */
import type { NewEvent } from '@dagbag/db';
import type { Response } from 'express';
import { actorOf } from './auth.ts';

export type ApiEvent = Omit<NewEvent, 'owner'>;

/** `event` as done by the caller of this request. */
export function apiEvent(res: Response, event: ApiEvent): NewEvent {
  return { ...event, owner: actorOf(res) };
}
