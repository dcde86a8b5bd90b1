/** DAG stats: run counts per state for each DAG. */
import { z } from 'zod';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagStatsResponse } from '../serialize.ts';
import type { RouteContext } from './common.ts';

export function dagStatsRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dagStats',
      operationId: 'get_dag_stats',
      summary: 'Get Dag Stats',
      description:
        'For each DAG (those named by `dag_ids`, or every DAG that is not stale), how many of its runs are in each state; every state is listed, zeros included.',
      tags: ['DagStats'],
      query: z.object({ dag_ids: s.listParam(z.string()) }),
      errors: [400, 404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DagStatsCollectionResponse,
      },
      async handler({ query }) {
        const rows = await queries.dagRunStats(
          query.dag_ids && query.dag_ids.length > 0 ? query.dag_ids : undefined,
        );
        return {
          status: 200,
          body: { dags: rows.map(dagStatsResponse), total_entries: rows.length },
        };
      },
    }),
  ];
}
