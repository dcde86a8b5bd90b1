/** DAG sources: the text of a DAG's file as stored with each version. */
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import type { RouteContext } from './common.ts';

export function dagSourceRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/dagSources/{dag_id}',
      operationId: 'get_dag_source',
      summary: 'Get Dag Source',
      description:
        "The file's text as it was when the latest version (or `version_number`) was stored: JSON by default, the bare text with `Accept: text/plain`. Versions stored before sources were kept answer their serialized document as JSON text.",
      tags: ['DagSource'],
      params: s.dagIdParam,
      query: z.object({ version_number: s.int32Param.optional() }),
      errors: [400, 404, 406],
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.DAGSourceResponse,
        alternatives: { 'text/plain': z.string().openapi({ description: 'The file as stored' }) },
      },
      async handler({ params, query, req }) {
        const type = req.accepts(['application/json', 'text/plain']);
        if (type === false)
          throw new ApiError('NOT_ACCEPTABLE', 'Only application/json or text/plain is supported');
        const source = await queries.getDagSource(params.dag_id, query.version_number);
        if (!source) {
          throw ApiError.notFound(
            query.version_number === undefined
              ? `The source code of the DAG ${params.dag_id} was not found`
              : `The source code of the DAG ${params.dag_id}, version_number ${query.version_number} was not found`,
          );
        }
        const content = source.sourceCode ?? JSON.stringify(source.data, null, 2);
        if (type === 'text/plain') return { status: 200, body: content, contentType: 'text/plain' };
        return {
          status: 200,
          body: {
            content,
            dag_id: source.dagId,
            version_number: source.versionNumber,
            dag_display_name: source.dagId,
          },
        };
      },
    }),
  ];
}
