/** DAGs: listing, one DAG, its details. */
import type { DagSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagDetailsResponse, dagResponse } from '../serialize.ts';
import { dagNotFound, type RouteContext } from './common.ts';

/** Airflow's `order_by` names for DAGs and the column each sorts by. */
const DAG_ORDER = {
  dag_id: 'dag_id',
  dag_display_name: 'dag_id',
  last_parsed_time: 'last_parsed_time',
  next_dagrun_logical_date: 'next_dagrun_logical_date',
  is_paused: 'is_paused',
} as const satisfies Record<string, DagSortColumn>;

export function dagRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dags',
      operationId: 'get_dags',
      summary: 'Get Dags',
      tags: ['DAG'],
      query: z.object({
        ...s.pagination,
        tags: s.listParam(z.string()),
        tags_match_mode: z.enum(['any', 'all']).optional(),
        dag_id_pattern: z
          .string()
          .optional()
          .openapi({ description: 'SQL LIKE expression — use `%` / `_` wildcards.' }),
        exclude_stale: s.booleanParam.default(true),
        paused: s.booleanParam.optional(),
        order_by: s.orderByParam(DAG_ORDER, 'dag_id'),
      }),
      success: { status: 200, description: 'Successful Response', schema: s.DAGCollectionResponse },
      async handler({ query }) {
        const page = await queries.listDags({
          limit: query.limit,
          offset: query.offset,
          tags: query.tags,
          tagsMatchMode: query.tags_match_mode,
          dagIdPattern: query.dag_id_pattern,
          excludeStale: query.exclude_stale,
          paused: query.paused,
          orderBy: query.order_by,
        });
        return {
          status: 200,
          body: { dags: page.rows.map(dagResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}',
      operationId: 'get_dag',
      summary: 'Get Dag',
      tags: ['DAG'],
      params: s.dagIdParam,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGResponse },
      async handler({ params }) {
        const dag = await queries.getDag(params.dag_id);
        if (!dag) throw dagNotFound(params.dag_id);
        return { status: 200, body: dagResponse(dag) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/details',
      operationId: 'get_dag_details',
      summary: 'Get Dag Details',
      tags: ['DAG'],
      params: s.dagIdParam,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGDetailsResponse },
      async handler({ params }) {
        const [dag, latest] = await Promise.all([
          queries.getDag(params.dag_id),
          queries.latestVersion(params.dag_id),
        ]);
        if (!dag) throw dagNotFound(params.dag_id);
        return { status: 200, body: dagDetailsResponse(dag, latest) };
      },
    }),
  ];
}
