/** DAGs: listing, one DAG, its details; pausing (one or many) and deleting. */
import { removeRunLogs } from '@dagbag/dagbag';
import { dagListingReadsRuns, type DagFilters, type DagSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { apiEvent } from '../audit.ts';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagDetailsResponse, dagResponse, jsonBytes } from '../serialize.ts';
import {
  bundleFilters,
  bundleSelectsNothing,
  dagNotFound,
  range,
  type RouteContext,
} from './common.ts';

/** Airflow's `order_by` names for DAGs and the column each sorts by. */
const DAG_ORDER = {
  dag_id: 'dag_id',
  dag_display_name: 'dag_id',
  last_parsed_time: 'last_parsed_time',
  next_dagrun: 'next_dagrun_logical_date',
  next_dagrun_logical_date: 'next_dagrun_logical_date',
  is_paused: 'is_paused',
  start_date: 'start_date',
  last_run_state: 'last_run_state',
  last_run_start_date: 'last_run_start_date',
} as const satisfies Record<string, DagSortColumn>;

const dagIdPattern = z.string().optional().openapi({
  description:
    'Substring of the dag_id, case-insensitive (SQL `ILIKE %value%`); `%` / `_` are wildcards inside it, `~` alone matches every DAG.',
});
const dagDisplayNamePattern = z.string().optional().openapi({
  description:
    'Substring of the display name (here always the dag_id), case-insensitive (SQL `ILIKE %value%`); `%` / `_` are wildcards inside it, `~` alone matches every DAG.',
});

/** The filters GET /dags and the bulk PATCH /dags share (Airflow's names). */
const dagSelection = {
  tags: s.listParam(z.string()),
  tags_match_mode: z.enum(['any', 'all']).optional(),
  exclude_stale: s.booleanParam.default(true),
  paused: s.booleanParam.optional(),
};

/**
 * Airflow's filters on what DAGs here never have (owners, a bundle version, an asset schedule or
 * dependency, a user's favourite) or all have (the DAGs folder's bundle): accepted as Airflow
 * does; a value that asks for what none has selects nothing, where ignoring it answered every DAG.
 */
const ownersFilter = s.listParam(z.string()).openapi({
  description: 'DAGs here have no owners (`owners` is `[]`): any value selects nothing.',
});

const absentFeatureFilters = {
  owners: ownersFilter,
  ...bundleFilters,
  has_asset_schedule: s.booleanParam
    .optional()
    .openapi({ description: 'No DAG here is scheduled on assets: true selects nothing.' }),
  asset_dependency: z
    .string()
    .optional()
    .openapi({ description: 'No DAG here depends on assets: any value selects nothing.' }),
  is_favorite: s.booleanParam
    .optional()
    .openapi({ description: 'There are no favourites here: true selects nothing.' }),
};

function selectsNothing(query: {
  owners?: string[];
  bundle_name?: string;
  bundle_version?: string;
  has_asset_schedule?: boolean;
  asset_dependency?: string;
  is_favorite?: boolean;
}): boolean {
  return (
    (query.owners?.length ?? 0) > 0 ||
    bundleSelectsNothing(query) ||
    query.has_asset_schedule === true ||
    query.asset_dependency !== undefined ||
    query.is_favorite === true
  );
}

/** Airflow lets a PATCH change `is_paused` only; a mask naming anything else is refused (400). */
const updateMask = s.listParam(z.string());
function checkUpdateMask(mask: string[] | undefined): void {
  if (mask !== undefined && (mask.length !== 1 || mask[0] !== 'is_paused'))
    throw new ApiError('BAD_REQUEST', 'Only `is_paused` field can be updated through the REST API');
}

const dagNotFoundForUpdate = (dagId: string) =>
  ApiError.notFound(`Dag with id: ${dagId} was not found`);

export function dagRoutes({ queries, dagBag, listings, logsDir }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dags',
      operationId: 'get_dags',
      summary: 'Get Dags',
      description:
        "A page of DAGs. Answers neither filtered nor ordered by runs are kept in the API's listing cache (API_LISTING_CACHE_MAX_BYTES; only while database notifications arrive), which every change of a DAG or an import error empties: this API's own writes before they answer, other processes' within milliseconds (a database notification).",
      tags: ['DAG'],
      query: z.object({
        ...s.pagination,
        ...dagSelection,
        dag_id_pattern: dagIdPattern,
        dag_display_name_pattern: dagDisplayNamePattern,
        has_import_errors: s.booleanParam.optional(),
        last_dag_run_state: s.DagRunState.optional(),
        dag_run_state: s.listParam(z.union([s.DagRunState, s.NO_VALUE])),
        ...s.timeRangeParams('dag_run_start_date'),
        ...s.timeRangeParams('dag_run_end_date'),
        order_by: s.orderByParam(DAG_ORDER, 'dag_id'),
        ...absentFeatureFilters,
      }),
      success: { status: 200, description: 'Successful Response', schema: s.DAGCollectionResponse },
      async handler({ query }) {
        if (selectsNothing(query)) return { status: 200, body: { dags: [], total_entries: 0 } };
        const dates = query as unknown as Record<string, Date | undefined>;
        const filters: DagFilters = {
          limit: query.limit,
          offset: query.offset,
          tags: query.tags,
          tagsMatchMode: query.tags_match_mode,
          dagIdPattern: query.dag_id_pattern,
          dagDisplayNamePattern: query.dag_display_name_pattern,
          hasImportErrors: query.has_import_errors,
          lastDagRunState: query.last_dag_run_state,
          dagRunState: query.dag_run_state,
          dagRunStartDate: range(dates, 'dag_run_start_date'),
          dagRunEndDate: range(dates, 'dag_run_end_date'),
          excludeStale: query.exclude_stale,
          paused: query.paused,
          orderBy: query.order_by,
        };
        // The validated query is the key: every filter, the page and the order, normalized.
        const key = dagListingReadsRuns(filters) ? undefined : JSON.stringify(query);
        const body = await listings.answer(key, async () => {
          const page = await queries.listDags(filters);
          const answer = { dags: page.rows.map(dagResponse), total_entries: page.total };
          return jsonBytes(answer);
        });
        return { status: 200, body };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dagTags',
      operationId: 'get_dag_tags',
      summary: 'Get Dag Tags',
      tags: ['DAG'],
      query: z.object({
        ...s.pagination,
        order_by: s.orderByParam({ name: 'name' } as const, 'name'),
        tag_name_pattern: z.string().optional().openapi({
          description:
            'Substring of the tag, case-insensitive (SQL `ILIKE %value%`); `%` / `_` are wildcards inside it.',
        }),
      }),
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGTagCollectionResponse,
      },
      async handler({ query }) {
        const page = await queries.listDagTags({
          limit: query.limit,
          offset: query.offset,
          namePattern: query.tag_name_pattern,
          descending: query.order_by[0]?.descending ?? false,
        });
        return { status: 200, body: { tags: page.rows, total_entries: page.total } };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/v2/dags',
      operationId: 'patch_dags',
      summary: 'Patch Dags',
      description:
        'Pauses or unpauses every DAG the filters select, and answers the selected DAGs (a page of them, by dag_id) as they are now. As in Airflow, nothing is selected without `dag_id_pattern`; `~` (or `%`) selects every DAG.',
      tags: ['DAG'],
      query: z.object({
        update_mask: updateMask,
        ...s.pagination,
        ...dagSelection,
        owners: ownersFilter,
        dag_id_pattern: dagIdPattern,
      }),
      body: s.DAGPatchBody,
      errors: [400, 404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGCollectionResponse },
      async handler({ query, body, res }) {
        checkUpdateMask(query.update_mask);
        // Nothing without dag_id_pattern, as Airflow; nothing for an owner, as no DAG here has one
        // (ignoring the filter paused or unpaused every DAG the pattern selected).
        if (query.dag_id_pattern === undefined || (query.owners?.length ?? 0) > 0)
          return { status: 200, body: { dags: [], total_entries: 0 } };
        const page = await queries
          .setDagsPaused(
            {
              limit: query.limit,
              offset: query.offset,
              tags: query.tags,
              tagsMatchMode: query.tags_match_mode,
              dagIdPattern: query.dag_id_pattern === '~' ? undefined : query.dag_id_pattern,
              excludeStale: query.exclude_stale,
              paused: query.paused,
            },
            body.is_paused,
            // In the change's transaction: an answer other than 200 means nothing changed.
            (changed) =>
              apiEvent(res, {
                event: 'patch_dags',
                extra: {
                  is_paused: body.is_paused,
                  dag_id_pattern: query.dag_id_pattern,
                  tags: query.tags,
                  paused: query.paused,
                  matched: changed.total,
                },
              }),
          )
          // Before answering: the next listing from this API shows the change.
          .finally(listings.invalidate);
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
      method: 'patch',
      path: '/api/v2/dags/{dag_id}',
      operationId: 'patch_dag',
      summary: 'Patch Dag',
      description:
        'Pauses or unpauses the DAG. A paused DAG gets no scheduled runs and the scheduler starts none of its tasks (running tasks finish); a trigger is accepted and its run waits queued until the DAG is unpaused.',
      tags: ['DAG'],
      params: s.dagIdParam,
      query: z.object({ update_mask: updateMask }),
      body: s.DAGPatchBody,
      errors: [400, 404],
      success: { status: 200, description: 'Successful Response', schema: s.DAGResponse },
      async handler({ params, query, body, res }) {
        checkUpdateMask(query.update_mask);
        const dag = await queries
          .setDagPaused(
            params.dag_id,
            body.is_paused,
            apiEvent(res, {
              event: 'patch_dag',
              dagId: params.dag_id,
              extra: { is_paused: body.is_paused },
            }),
          )
          .finally(listings.invalidate);
        if (!dag) throw dagNotFoundForUpdate(params.dag_id);
        return { status: 200, body: dagResponse(dag) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v2/dags/{dag_id}',
      operationId: 'delete_dag',
      summary: 'Delete Dag',
      description:
        "Deletes the DAG's metadata: its versions and sources, runs and task instances (the event log is kept). Its runs' log files go too. Refused with 409 while one of its runs is running or one of its tasks is queued or running. While its file is still in DAGS_FOLDER the DAG comes back, as new, on the processor's next pass, as in Airflow.",
      tags: ['DAG'],
      params: s.dagIdParam,
      errors: [400, 404, 409],
      success: { status: 204, description: 'Successful Response' },
      async handler({ params, req, res }) {
        const deleted = await queries
          .deleteDag(params.dag_id, apiEvent(res, { event: 'delete_dag', dagId: params.dag_id }))
          .finally(listings.invalidate);
        if (deleted.outcome === 'not_found') throw dagNotFoundForUpdate(params.dag_id);
        if (deleted.outcome === 'running')
          throw new ApiError(
            'CONFLICT',
            `Task instances of dag with id: '${params.dag_id}' are still running`,
          );
        // Before answering, as the listings: this API's next structure read of the DAG must not
        // be its cached versions (a 304 for a DAG parsed anew under the same version number),
        // whether or not the notification of their deletion has arrived yet.
        for (const versionId of deleted.versionIds) dagBag.invalidate(versionId);
        // As for a deleted run: runs re-created under these ids start with empty logs. The DAG is
        // gone either way: a log folder that cannot be removed is logged, not a 500.
        for (const runId of deleted.runIds) {
          await removeRunLogs(logsDir, { dagId: params.dag_id, runId }).catch((error: unknown) =>
            req.log?.warn({ err: error, runId }, "a deleted DAG's run logs were not removed"),
          );
        }
        return { status: 204 };
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
          queries.latestVersionDetails(params.dag_id),
        ]);
        if (!dag) throw dagNotFound(params.dag_id);
        return { status: 200, body: dagDetailsResponse(dag, latest) };
      },
    }),
  ];
}
