/**
 * DAG parsing: PUT /parseDagFile/{file_token} asks for a file to be parsed again now. The API and
 * the DAG processor are separate processes; the request is a row (`dag_priority_parsing_request`)
 * that the processor takes on its next pass (every DAG_DIR_SCAN_SECONDS), rereading and storing
 * that file even if its text looks unchanged, as Airflow's DagPriorityParsingRequest.
 */
import { z } from 'zod';
import { apiEvent } from '../audit.ts';
import { ApiError } from '../errors.ts';
import { defineRoute, type RouteDefinition } from '../route.ts';
import { decodeFileToken } from '../serialize.ts';
import type { RouteContext } from './common.ts';

export function dagParsingRoutes({ queries }: RouteContext): RouteDefinition[] {
  return [
    defineRoute({
      method: 'put',
      path: '/api/v2/parseDagFile/{file_token}',
      operationId: 'reparse_dag_file',
      summary: 'Reparse Dag File',
      description:
        "Request re-parsing a DAG file (`file_token` of a DAG's response): the DAG processor rereads it on its next pass.",
      tags: ['DAG Parsing'],
      params: z.object({ file_token: z.string().min(1).max(10_000) }),
      errors: [404],
      success: {
        status: 201,
        description: 'Successful Response',
        schema: z.null().openapi({ title: 'Response Reparse Dag File' }),
      },
      async handler({ params, res }) {
        const fileloc = decodeFileToken(params.file_token);
        // The event is written with the request row: an answer other than 201 means no request.
        const event = apiEvent(res, { event: 'reparse_dag_file', extra: { fileloc } });
        if (fileloc === undefined || !(await queries.requestParseOfFile(fileloc, event)))
          throw ApiError.notFound('File not found');
        return { status: 201, body: null };
      },
    }),
  ];
}
