/** DAG versions: metadata from the database, structure through the DAG cache. */
import type { DagVersionSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { dagVersionResponse, renderStructure } from '../serialize.ts';
import {
  bundleFilters,
  bundleSelectsNothing,
  dagNotFound,
  dagVersionNotFound,
  type RouteContext,
} from './common.ts';

const VERSION_ORDER = {
  // Airflow's ids are UUIDv7, so its default order (id) is creation order, across DAGs too. New
  // versions here get UUIDv7 ids but older ones random ids: creation time stands for them.
  id: 'created_at',
  version_number: 'version_number',
  created_at: 'created_at',
  // Every version here is of one bundle, without a bundle version: ordering by either is ordering
  // by the primary key alone (Airflow's tie-breaker), i.e. by creation.
  bundle_name: 'created_at',
  bundle_version: 'created_at',
} as const satisfies Record<string, DagVersionSortColumn>;

export function dagVersionRoutes({ queries, dagBag }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagVersions',
      operationId: 'get_dag_versions',
      summary: 'Get Dag Versions',
      description:
        'Version metadata from the database; never reads serialized DAGs or fills the DAG cache. Use `~` as the dag_id to list the versions of every DAG.',
      tags: ['DagVersion'],
      params: s.dagIdParam,
      query: z.object({
        ...s.pagination,
        version_number: s.integerParam.optional(),
        ...bundleFilters,
        order_by: s.orderByParam(VERSION_ORDER, 'id'),
      }),
      errors: [404],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGVersionCollectionResponse,
      },
      async handler({ params, query }) {
        const allDags = params.dag_id === '~';
        if (bundleSelectsNothing(query)) {
          if (!allDags && !(await queries.dagExists(params.dag_id)))
            throw dagNotFound(params.dag_id);
          return { status: 200, body: { dag_versions: [], total_entries: 0 } };
        }
        const page = await queries.listDagVersions(allDags ? undefined : params.dag_id, {
          limit: query.limit,
          offset: query.offset,
          versionNumber: query.version_number,
          orderBy: query.order_by,
        });
        if (page.total === 0 && !allDags && !(await queries.dagExists(params.dag_id)))
          throw dagNotFound(params.dag_id);
        return {
          status: 200,
          body: { dag_versions: page.rows.map(dagVersionResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagVersions/{version_number}',
      operationId: 'get_dag_version',
      summary: 'Get Dag Version',
      tags: ['DagVersion'],
      params: s.dagVersionParams,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DagVersionResponse },
      async handler({ params }) {
        const version = await queries.getDagVersion(params.dag_id, params.version_number);
        if (!version) throw dagVersionNotFound(params.dag_id, params.version_number);
        return { status: 200, body: dagVersionResponse(version) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure',
      operationId: 'get_dag_version_structure',
      summary: 'Structure of a DAG version',
      description:
        'Ours: the task graph (`nodes`, `edges`) of exactly this version, served through the DAG cache. The answer carries a strong `ETag`; with a matching `If-None-Match` it is `304 Not Modified` without a body.',
      tags: ['DagVersion'],
      params: s.dagVersionParams,
      conditional: true,
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.DagStructureResponse },
      async handler({ params }) {
        const { dag_id: dagId, version_number: versionNumber } = params;
        // Resident: no database round trip; cold: one query for id and row together.
        const entry = await dagBag.getVersion(dagId, versionNumber);
        if (!entry) throw dagVersionNotFound(dagId, versionNumber);
        // Serialized once per cached version (the API's DagBag renders on load); a DagBag made
        // without `render` (a library user's) still gets the same bytes, made per request.
        const { bytes, etag } = entry.rendered ?? renderStructure(entry);
        return { status: 200, body: bytes, etag };
      },
    }),
  ];
}
