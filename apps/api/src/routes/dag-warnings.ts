/** DAG warnings: problems that do not stop a DAG from loading but deserve attention. */
import type { DagWarningSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagWarningResponse } from '../serialize.ts';
import type { RouteContext } from './common.ts';

/** Every warning's message starts with its dag_id and all have one type: both sort as dag_id. */
const WARNING_ORDER = {
  dag_id: 'dag_id',
  warning_type: 'dag_id',
  message: 'dag_id',
  timestamp: 'timestamp',
} as const satisfies Record<string, DagWarningSortColumn>;

export function dagWarningRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dagWarnings',
      operationId: 'list_dag_warnings',
      summary: 'List Dag Warnings',
      description:
        "Ours: `stale dag` for each DAG whose file vanished from DAGS_FOLDER (history kept, no new runs; the DAG's `is_stale` says the same), listed only when asked for by `warning_type=stale dag`: Airflow's clients check `warning_type` against Airflow's two types and would fail to read a list holding a third. Airflow's types concern assets and pools, which this system does not have.",
      tags: ['DagWarning'],
      query: z.object({
        dag_id: z.string().optional(),
        warning_type: s.DagWarningType.optional(),
        ...s.pagination,
        order_by: s.orderByParam(WARNING_ORDER, 'dag_id'),
      }),
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGWarningCollectionResponse,
      },
      async handler({ query }) {
        const page = await queries.listDagWarnings({
          limit: query.limit,
          offset: query.offset,
          dagId: query.dag_id,
          // Unfiltered: Airflow's types only (see the description).
          warningTypes: query.warning_type ? [query.warning_type] : s.AIRFLOW_DAG_WARNING_TYPES,
          orderBy: query.order_by,
        });
        return {
          status: 200,
          body: { dag_warnings: page.rows.map(dagWarningResponse), total_entries: page.total },
        };
      },
    }),
  ];
}
