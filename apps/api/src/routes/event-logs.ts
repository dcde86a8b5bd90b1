/** Event logs: the audit trail of mutating API calls and scheduler events. */
import type { EventLogSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { eventLogResponse } from '../serialize.ts';
import type { RouteContext } from './common.ts';

const EVENT_LOG_ORDER = {
  id: 'id',
  event_log_id: 'id',
  dttm: 'dttm',
  when: 'dttm',
  dag_id: 'dag_id',
  task_id: 'task_id',
  run_id: 'run_id',
  event: 'event',
  logical_date: 'logical_date',
  owner: 'owner',
  map_index: 'map_index',
  try_number: 'try_number',
  extra: 'extra',
} as const satisfies Record<string, EventLogSortColumn>;

export function eventLogRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/eventLogs',
      operationId: 'get_event_logs',
      summary: 'Get Event Logs',
      description:
        'Every mutating API call (with the caller: the name of its `name:token` entry in API_AUTH_TOKENS, or `token:<fingerprint>`) and scheduler events (task failures, heartbeat timeouts, tries handed back; owner `scheduler`).',
      tags: ['Event Log'],
      query: z.object({
        ...s.pagination,
        order_by: s.orderByParam(EVENT_LOG_ORDER, 'id'),
        dag_id: z.string().optional(),
        task_id: z.string().optional(),
        run_id: z.string().optional(),
        map_index: s.int32Param.optional(),
        try_number: s.int32Param.optional(),
        owner: z.string().optional(),
        event: z.string().optional(),
        excluded_events: s.listParam(z.string()),
        included_events: s.listParam(z.string()),
        before: s.dateTimeParam.optional(),
        after: s.dateTimeParam.optional(),
      }),
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.EventLogCollectionResponse,
      },
      async handler({ query }) {
        const page = await queries.listEventLogs({
          limit: query.limit,
          offset: query.offset,
          orderBy: query.order_by,
          dagId: query.dag_id,
          taskId: query.task_id,
          runId: query.run_id,
          mapIndex: query.map_index,
          tryNumber: query.try_number,
          owner: query.owner,
          event: query.event,
          includedEvents: query.included_events,
          excludedEvents: query.excluded_events,
          before: query.before,
          after: query.after,
        });
        return {
          status: 200,
          body: { event_logs: page.rows.map(eventLogResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/eventLogs/{event_log_id}',
      operationId: 'get_event_log',
      summary: 'Get Event Log',
      tags: ['Event Log'],
      params: z.object({ event_log_id: s.int32Param }),
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.EventLogResponse },
      async handler({ params }) {
        const row = await queries.getEventLog(params.event_log_id);
        if (!row)
          throw ApiError.notFound(`The Event Log with id: \`${params.event_log_id}\` not found`);
        return { status: 200, body: eventLogResponse(row) };
      },
    }),
  ];
}
