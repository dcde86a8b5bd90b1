/** Import errors: files the DAG processor could not load. */
import type { ImportErrorSortColumn } from '@dagbag/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import * as s from '../schemas.ts';
import { importErrorResponse } from '../serialize.ts';
import type { RouteContext } from './common.ts';

const IMPORT_ERROR_ORDER = {
  id: 'id',
  import_error_id: 'id',
  timestamp: 'timestamp',
  filename: 'filename',
  bundle_name: 'bundle_name',
  stacktrace: 'stacktrace',
} as const satisfies Record<string, ImportErrorSortColumn>;

export function importErrorRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v2/importErrors',
      operationId: 'get_import_errors',
      summary: 'Get Import Errors',
      tags: ['Import Error'],
      query: z.object({
        ...s.pagination,
        order_by: s.orderByParam(IMPORT_ERROR_ORDER, 'id'),
        filename_pattern: z.string().optional().openapi({
          description:
            "Airflow's: a case-insensitive substring of the file's path in DAGS_FOLDER; `%` and `_` are wildcards, `~` alone matches every file.",
        }),
      }),
      success: {
        status: 200,
        description: 'Successful Response',
        schema: s.ImportErrorCollectionResponse,
      },
      async handler({ query }) {
        const page = await queries.listImportErrors({
          limit: query.limit,
          offset: query.offset,
          orderBy: query.order_by,
          filenamePattern: query.filename_pattern,
        });
        return {
          status: 200,
          body: { import_errors: page.rows.map(importErrorResponse), total_entries: page.total },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v2/importErrors/{import_error_id}',
      operationId: 'get_import_error',
      summary: 'Get Import Error',
      tags: ['Import Error'],
      params: z.object({ import_error_id: s.int32Param }),
      errors: [404],
      success: { status: 200, description: 'Successful Response', schema: s.ImportErrorResponse },
      async handler({ params }) {
        const error = await queries.getImportError(params.import_error_id);
        if (!error)
          throw ApiError.notFound(
            `The ImportError with import_error_id: \`${params.import_error_id}\` was not found`,
          );
        return { status: 200, body: importErrorResponse(error) };
      },
    }),
  ];
}
