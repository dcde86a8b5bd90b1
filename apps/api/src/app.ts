import { join } from 'node:path';
import { dataDir } from '@dagbag/config';
import { createApiQueries, databaseUnavailableReason, type PrismaClient } from '@dagbag/db';
import type { Logger } from '@dagbag/logger';
import type { Meter } from '@opentelemetry/api';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { z } from 'zod';
import { requireBearerToken } from './auth.ts';
import type { AppConfig } from './config.ts';
import { ApiError, toApiError } from './errors.ts';
import { jsonBodyParser } from './json-body.ts';
import { ListingCache } from './listing-cache.ts';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.ts';
import { requestLine } from './request-line.ts';
import { requestDurationRecorder } from './request-metrics.ts';
import { defineRoute, expressPath, mountRoute, type RouteDefinition } from './route.ts';
import { buildRoutes, type ApiDagBag } from './routes/index.ts';

export const API_VERSION = '0.1.0';
export const OPENAPI_PATH = '/api/v2/openapi.json';

export interface CreateAppOptions {
  prisma: PrismaClient;
  dagBag: ApiDagBag;
  config: AppConfig;
  logger: Logger;
  /**
   * Root of the task logs; default `.data/logs` at the repository root (main passes DATA_DIR's).
   */
  logsDir?: string;
  /** Where `http.server.request.duration` is recorded; default the global meter provider's. */
  meter?: Meter;
  /**
   * `GET /dags` answers kept between requests (main: API_LISTING_CACHE_MAX_BYTES, following the
   * notifier). Default: none, every listing is read from the database.
   */
  listingCache?: ListingCache;
}

export interface ApiApp extends Express {
  /** Every route the app serves, as declared (the OpenAPI document is made of these). */
  readonly routes: readonly RouteDefinition[];
  readonly openApiDocument: OpenApiDocument;
}

/** Express 5 app serving Airflow's REST API v2 for our resources. */
export function createApp(options: CreateAppOptions): ApiApp {
  const { logger, config } = options;
  const queries = createApiQueries(options.prisma);
  const routes = buildRoutes({
    queries,
    dagBag: options.dagBag,
    listings: options.listingCache ?? new ListingCache({ maxBytes: 0, meter: options.meter }),
    logsDir: options.logsDir ?? join(dataDir(), 'logs'),
    version: API_VERSION,
    gitVersion: config.gitVersion ?? null,
  });
  let document: OpenApiDocument | undefined;
  routes.push(
    defineRoute({
      method: 'get',
      path: OPENAPI_PATH,
      operationId: 'get_openapi_document',
      summary: 'OpenAPI document',
      description: 'Ours: this document.',
      tags: ['Monitor'],
      success: {
        status: 200,
        description: 'The OpenAPI 3.1 document of this API',
        schema: z.record(z.string(), z.unknown()),
      },
      handler: () => ({ status: 200, body: document }),
    }),
  );
  document = buildOpenApiDocument(routes, API_VERSION);

  const app = express() as unknown as ApiApp;
  Object.defineProperty(app, 'routes', { value: routes });
  Object.defineProperty(app, 'openApiDocument', { value: document });
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(requestLine(app, logger, requestDurationRecorder(options.meter)));

  // Open paths come from the route declarations (health, version), so the document and the check
  // agree.
  const openPaths = new Set(
    routes.filter((route) => route.auth === false).map((route) => route.path),
  );
  app.use(requireBearerToken(config.authTokens, openPaths));

  // Bodies are read per operation (only those that have one), under the size and depth limits.
  const bodyParser = jsonBodyParser({
    limitBytes: config.bodyLimitBytes,
    maxDepth: config.bodyMaxDepth,
  });
  const router = express.Router({ strict: false });
  for (const route of hotRoutesFirst(routes)) mountRoute(router, route, bodyParser);
  app.use(router);
  app.use(notFoundOrMethodNotAllowed(routes));
  app.use(errorHandler());
  return app;
}

/**
 * The routing order: the cached reads (`conditional`: structure answers, the hot path) first, so
 * that their requests are not tried against every other pattern; the rest as declared. Safe only
 * while no other route of the same method can match their paths, which is checked here (a clash
 * stops the app at start rather than change which route answers).
 */
export function hotRoutesFirst(routes: readonly RouteDefinition[]): RouteDefinition[] {
  const sample = (route: RouteDefinition) => expressPath(route.path).replace(/:[a-z_]+/g, 'x');
  const pattern = (route: RouteDefinition) =>
    new RegExp(`^${expressPath(route.path).replace(/:[a-z_]+/g, '[^/]+')}/?$`);
  const hot = routes.filter((route) => route.conditional);
  for (const first of hot) {
    const clash = routes.find(
      (other) =>
        other !== first &&
        other.method === first.method &&
        (pattern(other).test(sample(first)) || pattern(first).test(sample(other))),
    );
    if (clash) throw new Error(`${first.path} cannot be routed first: ${clash.path} overlaps it`);
  }
  return [...hot, ...routes.filter((route) => !route.conditional)];
}

/** 405 with `Allow` for a known path and another method (as FastAPI answers); 404 otherwise. */
function notFoundOrMethodNotAllowed(routes: readonly RouteDefinition[]): RequestHandler {
  const patterns = routes.map((route) => ({
    method: route.method.toUpperCase(),
    regex: new RegExp(`^${expressPath(route.path).replace(/:[a-z_]+/g, '[^/]+')}/?$`),
  }));
  return (req, _res, next) => {
    const allowed = patterns
      .filter((pattern) => pattern.regex.test(req.path))
      .map((pattern) => pattern.method);
    if (allowed.length > 0) {
      next(
        new ApiError('METHOD_NOT_ALLOWED', 'Method Not Allowed', {
          headers: { Allow: [...new Set(allowed)].join(', ') },
        }),
      );
    } else {
      next(ApiError.notFound('Not Found'));
    }
  };
}

function errorHandler(): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const apiError = toApiError(error);
    if (apiError.status >= 500) {
      // The request line (request-line.ts) logs the cause; it never goes to the client. An
      // outage makes every request a 503: each line names why in one line, without a stack.
      const cause: unknown = apiError.cause ?? error;
      (res as unknown as { err?: unknown }).err =
        apiError.code === 'SERVICE_UNAVAILABLE'
          ? (databaseUnavailableReason(cause) ?? cause)
          : cause;
    }
    for (const [name, value] of Object.entries(apiError.headers)) res.setHeader(name, value);
    if (apiError.code === 'SERVICE_UNAVAILABLE') res.setHeader('Retry-After', '5');
    res.status(apiError.status).json(apiError.body());
  };
}
