/** Task instances of a run and their logs. */
import { taskLogPath, UnsafeLogPathError } from '@dagbag/dagbag';
import type { TaskInstanceSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import {
  decodeToken,
  encodeToken,
  LOG_MAX_BYTES,
  LOG_PAGE_BYTES,
  readLogPage,
  structuredLogMessage,
  tryMayStillLog,
} from '../logs.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { TASK_POOL, TASK_QUEUE, taskInstanceResponse } from '../serialize.ts';
import {
  dagNotFound,
  placementSelectsNothing,
  range,
  runDateRanges,
  requireRun,
  type RouteContext,
} from './common.ts';

const TI_ORDER = {
  id: 'id',
  task_id: 'task_id',
  map_index: 'map_index',
  state: 'state',
  start_date: 'start_date',
  end_date: 'end_date',
  duration: 'duration',
  try_number: 'try_number',
  operator: 'operator',
  logical_date: 'logical_date',
  run_after: 'run_after',
  data_interval_start: 'data_interval_start',
  data_interval_end: 'data_interval_end',
  // No instance has a rendered map index: Airflow then orders by map_index.
  rendered_map_index: 'map_index',
} as const satisfies Record<string, TaskInstanceSortColumn>;

const TI_STATE_FILTER = z.union([s.TaskInstanceState, z.enum(['no_status', 'none', 'null'])]);

export function taskInstanceRoutes(ctx: RouteContext): RouteDefinition[] {
  const { queries } = ctx;
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances',
      operationId: 'get_task_instances',
      summary: 'Get Task Instances',
      description:
        'Use `~` as the dag_id and/or the dag_run_id to list task instances across DAGs and/or runs.',
      tags: ['Task Instance'],
      params: s.dagRunParams,
      query: z.object({
        ...s.pagination,
        task_id: z.string().optional(),
        ...s.timeRangeParams('run_after'),
        ...s.timeRangeParams('logical_date'),
        ...s.timeRangeParams('start_date'),
        ...s.timeRangeParams('end_date'),
        ...s.timeRangeParams('updated_at'),
        duration_gte: s.numberParam.optional(),
        duration_gt: s.numberParam.optional(),
        duration_lte: s.numberParam.optional(),
        duration_lt: s.numberParam.optional(),
        task_display_name_pattern: z.string().optional().openapi({
          description:
            "A case-insensitive substring of the task's display name (its task_id here); `%` and `_` are wildcards.",
        }),
        state: s.listParam(TI_STATE_FILTER),
        pool: s.listParam(z.string()).openapi({
          description: `Every task instance is in \`${TASK_POOL}\`: other pools select none.`,
        }),
        queue: s.listParam(z.string()).openapi({
          description: `Every task instance is in queue \`${TASK_QUEUE}\`: other queues select none.`,
        }),
        executor: s
          .listParam(z.string())
          .openapi({ description: 'Task instances name no executor: any value selects none.' }),
        try_number: s.listParam(s.integerParam),
        operator: s.listParam(z.string()),
        version_number: s.listParam(s.integerParam),
        order_by: s.orderByParam(TI_ORDER, 'map_index'),
      }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstanceCollectionResponse,
      },
      async handler({ params, query }) {
        const allDags = params.dag_id === '~';
        const allRuns = params.dag_run_id === '~';
        if (!allDags && !allRuns) await requireRun(queries, params.dag_id, params.dag_run_id);
        else if (!allDags && !(await queries.dagExists(params.dag_id)))
          throw dagNotFound(params.dag_id);
        const operatorFilter = query.operator?.map((name) =>
          name.replace(/Operator$/, '').toLowerCase(),
        );
        const dates = query as unknown as Record<string, Date | undefined>;
        const page = await queries.listTaskInstancesAcross({
          dagIds: placementSelectsNothing(query) ? [] : allDags ? undefined : [params.dag_id],
          runIds: allRuns ? undefined : [params.dag_run_id],
          taskIds: query.task_id === undefined ? undefined : [query.task_id],
          limit: query.limit,
          offset: query.offset,
          state: query.state?.map((state) =>
            state === 'no_status' || state === 'none' || state === 'null' ? null : state,
          ),
          tryNumber: query.try_number,
          operator: operatorFilter,
          versionNumber: query.version_number,
          taskIdPattern: query.task_display_name_pattern,
          ...runDateRanges(dates),
          unsetDatesAsNow: true,
          updatedAt: range(dates, 'updated_at'),
          duration: {
            gte: query.duration_gte,
            gt: query.duration_gt,
            lte: query.duration_lte,
            lt: query.duration_lt,
          },
          orderBy: query.order_by,
        });
        return {
          status: 200,
          body: { task_instances: page.rows.map(taskInstanceResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
      operationId: 'get_task_instance',
      summary: 'Get Task Instance',
      tags: ['Task Instance'],
      params: s.taskInstanceParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.TaskInstanceResponse },
      async handler({ params }) {
        const ti = await queries.getTaskInstance(params.dag_id, params.dag_run_id, params.task_id);
        if (!ti) {
          throw ApiError.notFound(
            `The Task Instance with dag_id: \`${params.dag_id}\`, run_id: \`${params.dag_run_id}\`, task_id: \`${params.task_id}\` and map_index: \`-1\` was not found`,
          );
        }
        return { status: 200, body: taskInstanceResponse(ti) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}',
      operationId: 'get_log',
      summary: 'Get Log',
      description:
        "One try's log, a page at a time: pass the returned `continuation_token` as `token` to read on. With `Accept: application/x-ndjson`, the same lines as newline-delimited JSON objects (Airflow's log line objects), the token in the `Airflow-Continuation-Token` header while there is more to read.",
      tags: ['Task Instance'],
      params: s.taskLogParams,
      query: z.object({
        full_content: s.booleanParam.default(false),
        map_index: s.integerParam.default(-1),
        token: z.string().max(200).optional(),
      }),
      errors: [400, 404, 406],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.TaskInstancesLogResponse,
        alternatives: {
          'application/x-ndjson': z.string().openapi({
            description: 'One log line object (StructuredLogMessage) per line',
          }),
        },
      },
      async handler({ params, query, req, res }) {
        const type = req.accepts(['application/json', 'application/x-ndjson']);
        if (type === false)
          throw new ApiError(
            'NOT_ACCEPTABLE',
            'Only application/json or application/x-ndjson is supported',
          );
        // The ids must make a log path by the one rule the executor writes by. One it refuses is
        // the client's error (400), unless the task instance exists (a run stored before the run
        // id rule): no log can have been written for it, so its log is empty.
        let path: string | undefined;
        let refusal: UnsafeLogPathError | undefined;
        try {
          path = taskLogPath(ctx.logsDir, {
            dagId: params.dag_id,
            runId: params.dag_run_id,
            taskId: params.task_id,
            tryNumber: params.try_number,
          });
        } catch (error) {
          if (!(error instanceof UnsafeLogPathError)) throw error;
          refusal = error;
        }
        const ti = await queries.getTaskInstance(
          params.dag_id,
          params.dag_run_id,
          params.task_id,
          query.map_index,
        );
        if (!ti) throw refusal ?? ApiError.notFound('TaskInstance not found');
        if (params.try_number > Math.max(ti.tryNumber, 1) && params.try_number !== 0) {
          throw ApiError.notFound(
            `Try ${params.try_number} of this task instance has not run (it is at try ${ti.tryNumber})`,
          );
        }
        const offset =
          query.full_content || query.token === undefined ? 0 : decodeToken(query.token);
        const page =
          path === undefined
            ? { lines: [], nextOffset: 0, atEnd: true }
            : await readLogPage(
                ctx.logsDir,
                path,
                offset,
                query.full_content ? LOG_MAX_BYTES : LOG_PAGE_BYTES,
              );
        if ('refused' in page && page.refused !== undefined)
          req.log.warn({ path, reason: page.refused }, 'task log not served');
        // As Airflow: no token once the whole log is read and the try can write no more to it.
        const continuationToken =
          page.atEnd && !tryMayStillLog(ti, params.try_number)
            ? null
            : encodeToken(page.nextOffset);
        const content = page.lines.map(structuredLogMessage);
        if (type === 'application/x-ndjson') {
          if (continuationToken !== null)
            res.setHeader('Airflow-Continuation-Token', continuationToken);
          return {
            status: 200,
            body: content.map((line) => `${JSON.stringify(line)}\n`).join(''),
            contentType: 'application/x-ndjson',
          };
        }
        return { status: 200, body: { content, continuation_token: continuationToken } };
      },
    }),
  ];
}
