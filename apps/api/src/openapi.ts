import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { documentRoute, type RouteDefinition } from './route.ts';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

/** The OpenAPI 3.1 document of exactly the given routes, from their zod schemas. */
export function buildOpenApiDocument(
  routes: readonly RouteDefinition[],
  version: string,
): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'HTTPBearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'One of the tokens in API_AUTH_TOKENS (or the generated development token in DATA_DIR/api-token).',
  });
  for (const route of routes) documentRoute(registry, route);
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'dagbag REST API',
      version,
      description:
        "Airflow's public REST API v2 for the resources this system has (same paths, parameters and field names), " +
        'plus the DAG structure endpoints and the DAG cache figures. Errors are JSON with a `detail` field.',
    },
    servers: [{ url: '/' }],
  });
  markPathParametersRequired(document);
  return document;
}

/**
 * Path parameters are always required (OpenAPI says so). zod-to-openapi infers "required" from the
 * schema's input type, and a coercing schema (`z.coerce.number()`) accepts undefined as input.
 */
function markPathParametersRequired(document: OpenApiDocument): void {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(
      operations as Record<string, { parameters?: { in?: string; required?: boolean }[] }>,
    )) {
      for (const parameter of operation.parameters ?? [])
        if (parameter.in === 'path') parameter.required = true;
    }
  }
}
