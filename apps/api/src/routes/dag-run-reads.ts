/** DAG run reads beyond one DAG's listing: the batch listing across DAGs, and waiting for a run. */
import type { DagRunSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagRunResponse } from '../serialize.ts';
import { listFilter, runDateRanges, requireRun, type RouteContext } from './common.ts';

/** Airflow's batch order_by names that map onto our sort columns. */
const BATCH_ORDER: Readonly<Record<string, DagRunSortColumn>> = {
  id: 'id',
  state: 'state',
  run_after: 'run_after',
  logical_date: 'logical_date',
  run_id: 'run_id',
  dag_run_id: 'run_id',
  start_date: 'start_date',
  end_date: 'end_date',
  updated_at: 'updated_at',
  dag_id: 'dag_id',
  conf: 'conf',
};

const FINISHED_RUN_STATES = new Set(['success', 'failed']);

/**
 * The shortest interval `wait` polls at, in seconds: a waiting client cannot flood the database.
 */
const MIN_WAIT_INTERVAL_S = 0.1;

export function dagRunReadRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'post',
      path: '/api/v2/dags/{dag_id}/dagRuns/list',
      operationId: 'get_list_dag_runs_batch',
      summary: 'Get List Dag Runs Batch',
      description: 'Runs across DAGs (the path id must be `~`), filtered by the body.',
      tags: ['DagRun'],
      params: z.object({ dag_id: z.literal('~') }),
      body: s.DAGRunsBatchBody,
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGRunCollectionResponse,
      },
      async handler({ body }) {
        const order = body.order_by ?? 'id';
        const column = BATCH_ORDER[order.replace(/^-/, '')];
        if (column === undefined)
          throw new ApiError(
            'BAD_REQUEST',
            `Ordering with '${order}' is disallowed or the attribute does not exist on the model; use one of ${Object.keys(BATCH_ORDER).join(', ')}, optionally prefixed by '-'`,
          );
        const dates = body as unknown as Record<string, Date | undefined>;
        const page = await queries.listDagRuns({
          dagIds: listFilter(body.dag_ids),
          limit: body.page_limit,
          offset: body.page_offset,
          ...runDateRanges(dates),
          state: body.states?.filter((state) => state !== null),
          orderBy: [{ column, descending: order.startsWith('-') }],
        });
        return {
          status: 200,
          body: { dag_runs: page.rows.map(dagRunResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait',
      operationId: 'wait_dag_run_until_finished',
      summary:
        'Experimental: Wait for a dag run to complete, and return task results if requested.',
      description:
        'Streams newline-delimited JSON (application/x-ndjson): a line `{"state": ...}` now and after every `interval` seconds while the run is unfinished, the last one once it is success or failed (`interval` below 0.1 is served as 0.1). `result` (XCom) is not supported: there is no XCom.',
      tags: ['DagRun'],
      params: s.dagRunParams,
      query: z.object({
        interval: s.numberParam.pipe(z.number().gt(0).max(3600)).openapi({
          type: 'number',
          description: 'Seconds to wait between dag run state checks',
        }),
      }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        contentType: 'application/x-ndjson',
        schema: z.string().openapi({
          example: '{"state": "running"}\n{"state": "success"}\n',
        }),
      },
      async handler({ params, query }) {
        const { dag_id: dagId, dag_run_id: runId } = params;
        let state = (await requireRun(queries, dagId, runId)).state;
        const intervalMs = Math.max(query.interval, MIN_WAIT_INTERVAL_S) * 1000;
        async function* lines(signal: AbortSignal): AsyncGenerator<string> {
          yield `${JSON.stringify({ state })}\n`;
          while (!FINISHED_RUN_STATES.has(state) && !signal.aborted) {
            // One abort listener per pause, removed when the pause ends: added each interval and
            // left on the request's signal, they piled up for as long as the run went on (36,000
            // an hour at interval=0.1, each holding its timer and closure).
            await new Promise<void>((resolve) => {
              const done = () => {
                clearTimeout(timer);
                signal.removeEventListener('abort', done);
                resolve();
              };
              const timer = setTimeout(done, intervalMs);
              signal.addEventListener('abort', done, { once: true });
            });
            if (signal.aborted) return;
            const run = await queries.getDagRun(dagId, runId);
            // A run deleted while waited for: end the stream with what was last known.
            if (!run) return;
            state = run.state;
            yield `${JSON.stringify({ state })}\n`;
          }
        }
        return { status: 200, contentType: 'application/x-ndjson', stream: lines };
      },
    }),
  ];
}
