import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { dataDir } from '@dagbag/config';
import { createApiQueries, type PrismaClient } from '@dagbag/db';
import type { Logger } from '@dagbag/logger';
import type { Meter } from '@opentelemetry/api';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { z } from 'zod';
import { requireBearerToken } from './auth.ts';
import type { AppConfig } from './config.ts';
import { ApiError, toApiError } from './errors.ts';
import { jsonBodyParser } from './json-body.ts';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.ts';
import { requestDuration } from './request-metrics.ts';
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
}

export interface ApiApp extends Express {
  /** Every route the app serves, as declared (the OpenAPI document is made of these). */
  readonly routes: readonly RouteDefinition[];
  readonly openApiDocument: OpenApiDocument;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Express 5 app serving Airflow's REST API v2 for our resources. */
export function createApp(options: CreateAppOptions): ApiApp {
  const { logger, config } = options;
  const queries = createApiQueries(options.prisma);
  const routes = buildRoutes({
    queries,
    dagBag: options.dagBag,
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

  // Every answer is JSON about one caller's data: never sniffed as another type, never cached.
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(requestDuration(options.meter));
  app.use(
    pinoHttp({
      logger,
      genReqId(req, res) {
        const incoming = req.headers['x-request-id'];
        const id =
          typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel(_req, res, error) {
        if (res.statusCode >= 500 && res.statusCode !== 503) return 'error';
        if (error || res.statusCode >= 500) return 'warn';
        return 'info';
      },
      // Headers are not logged at all: nothing to redact, nothing to leak.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );

  // Open paths come from the route declarations (only health), so the document and the check agree.
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
  for (const route of routes) mountRoute(router, route, bodyParser);
  app.use(router);
  app.use(notFoundOrMethodNotAllowed(routes));
  app.use(errorHandler(logger));
  return app;
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

function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) return next(error);
    const apiError = toApiError(error);
    if (apiError.status >= 500) {
      // pino-http logs the request line; the cause goes to the log, never to the client.
      (res as unknown as { err?: unknown }).err = apiError.cause ?? error;
      if (apiError.code === 'SERVICE_UNAVAILABLE') {
        (req.log ?? logger).warn(
          { reason: String((apiError.cause as Error | undefined)?.message ?? '') },
          'database unavailable',
        );
      }
    }
    for (const [name, value] of Object.entries(apiError.headers)) res.setHeader(name, value);
    if (apiError.code === 'SERVICE_UNAVAILABLE') res.setHeader('Retry-After', '5');
    res.status(apiError.status).json(apiError.body());
  };
}
