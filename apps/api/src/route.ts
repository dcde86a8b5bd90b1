/**
 * A route is declared once — method, path, zod schemas of its input and output, handler — and
 * that one declaration both registers the Express handler and documents the operation in the
 * OpenAPI document. Input is validated by the same schemas the document is generated from.
 */
import type { OpenAPIRegistry, ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import { ApiError, type ValidationIssue } from './errors.ts';
import { HTTPExceptionResponse, HTTPValidationError } from './schemas.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

type AnyObject = z.ZodType<Record<string, unknown>, unknown>;

export interface RouteInput<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  req: Request;
  res: Response;
}

/**
 * What a handler returns: a status and a JSON body, or nothing for 204; with `contentType`, the
 * body is a string sent as is (text/plain sources, ndjson); or a `stream` of text chunks of
 * `contentType`, written as they are produced, whose signal aborts when the client goes away.
 */
export type RouteResult = {
  status: number;
  /** Bytes (a Uint8Array) are sent as they are: JSON already serialized, unless `contentType`. */
  body?: unknown;
  /**
   * A strong validator of the bytes (routes declared `conditional`): sent as `ETag` with
   * `Cache-Control: private, no-cache`, and a matching `If-None-Match` gets 304 without a body.
   */
  etag?: string;
  contentType?: string;
  stream?: (signal: AbortSignal) => AsyncIterable<string>;
};

export interface RouteDefinition<
  P extends z.ZodType = AnyObject,
  Q extends z.ZodType = AnyObject,
  B extends z.ZodType = z.ZodType,
> {
  method: HttpMethod;
  /** OpenAPI style: `/api/v2/dags/{dag_id}`. */
  path: string;
  operationId: string;
  summary: string;
  tags: string[];
  description?: string;
  /** False where Airflow needs no token (health, version): every other path needs one. */
  auth?: boolean;
  /**
   * Answers carry an `ETag`; `If-None-Match` revalidates them (304). The handler returns `etag`.
   */
  conditional?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The success response (JSON unless `contentType` says otherwise); `alternatives`: the other
   * media types the handler answers with when `Accept` asks for them, each with its schema.
   */
  success: {
    status: number;
    description: string;
    schema?: z.ZodType;
    contentType?: string;
    alternatives?: Record<string, z.ZodType>;
  };
  /** Error statuses this operation can answer besides 401/422/503 (which all share). */
  errors?: (400 | 404 | 406 | 409 | 413)[];
  handler(input: RouteInput<P, Q, B>): Promise<RouteResult> | RouteResult;
}

/** Keeps the generic parameters of each route precise while storing them in one list. */
export function defineRoute<
  P extends z.ZodType = AnyObject,
  Q extends z.ZodType = AnyObject,
  B extends z.ZodType = z.ZodType,
>(route: RouteDefinition<P, Q, B>): RouteDefinition {
  return route as unknown as RouteDefinition;
}

/** `/api/v2/dags/{dag_id}` -> `/api/v2/dags/:dag_id` */
export function expressPath(openApiPath: string): string {
  return openApiPath.replace(/\{([a-z_]+)\}/g, ':$1');
}

/** Whether Airflow answers this issue 400 rather than 422 (BAD_REQUEST_ISSUE). */
const isBadRequest = (issue: z.core.$ZodIssue) =>
  issue.code === 'custom' && issue.params?.httpStatus === 400;

function issuesOf(where: 'path' | 'query' | 'body', error: z.ZodError): ValidationIssue[] {
  return error.issues
    .filter((issue) => !isBadRequest(issue))
    .map((issue) => ({
      loc: [where, ...issue.path.map((key) => (typeof key === 'number' ? key : String(key)))],
      msg: issue.message,
      type: issue.code,
    }));
}

/**
 * Strings (values or keys) PostgreSQL cannot store as sent: U+0000 (text cannot hold it) and lone
 * UTF-16 surrogates (they would be stored as U+FFFD). Walks iteratively: depth is bounded at the
 * door (API_BODY_MAX_DEPTH), but no input may exhaust the stack here.
 */
function unstorableStrings(where: 'path' | 'query' | 'body', root: unknown): ValidationIssue[] {
  const found: ValidationIssue[] = [];
  const check = (text: string, loc: (string | number)[], what: 'String' | 'Key') => {
    if (text.includes('\u0000'))
      found.push({ loc, msg: `${what} must not contain the NUL character`, type: 'string_nul' });
    else if (!text.isWellFormed())
      found.push({
        loc,
        msg: `${what} must not contain a lone UTF-16 surrogate (it cannot be stored as sent)`,
        type: 'string_unicode',
      });
  };
  const stack: { value: unknown; loc: (string | number)[] }[] = [{ value: root, loc: [where] }];
  while (stack.length > 0 && found.length < 10) {
    const { value, loc } = stack.pop()!;
    if (typeof value === 'string') check(value, loc, 'String');
    else if (Array.isArray(value))
      value.forEach((item, index) => stack.push({ value: item, loc: [...loc, index] }));
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        check(key, [...loc, key], 'Key');
        stack.push({ value: item, loc: [...loc, key] });
      }
    }
  }
  return found;
}

/**
 * Whether `If-None-Match` names `etag` (RFC 9110 13.1.2: `*` or a list of tags, compared weakly).
 * Evaluated whatever `Cache-Control` the request carries: that header speaks to caches, and fetch()
 * sends `no-cache` with every conditional request (Express's `req.fresh` would then never be 304).
 */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const candidate of header.split(',')) {
    const tag = candidate.trim();
    if (tag === '*' || tag === opaque || tag === `W/${opaque}`) return true;
  }
  return false;
}

/**
 * The query parameters of a route that take one value (not a list): those whose schema refuses an
 * array as a whole, rather than one of its items. Found once, when the route is mounted.
 */
function scalarQueryKeys(query: z.ZodType | undefined): ReadonlySet<string> {
  if (!(query instanceof z.ZodObject)) return new Set();
  const shape = query.shape as Record<string, z.ZodType>;
  return new Set(
    Object.keys(shape).filter((key) => {
      const probe = shape[key]!.safeParse(['probe']);
      return (
        !probe.success &&
        probe.error.issues.some((issue) => issue.path.length === 0 && !isBadRequest(issue))
      );
    }),
  );
}

/**
 * A parameter that takes one value, sent several times, is its last value, as FastAPI reads it
 * (Starlette's QueryParams.get): `?limit=10&limit=20` is limit 20, not a 422.
 */
function lastOfRepeated(query: Record<string, unknown>, scalars: ReadonlySet<string>) {
  let normalized: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(query)) {
    if (!Array.isArray(value) || !scalars.has(key)) continue;
    normalized ??= { ...query };
    normalized[key] = value.at(-1);
  }
  return normalized ?? query;
}

/**
 * Registers one operation. `bodyParser` runs only for operations that declare a body: a body sent
 * to any other operation is never read, so it cannot fail the request.
 */
export function mountRoute(
  router: Router,
  route: RouteDefinition,
  bodyParser: readonly RequestHandler[],
): void {
  const handlers: RequestHandler[] = route.body ? [...bodyParser] : [];
  const scalars = scalarQueryKeys(route.query);
  router[route.method](expressPath(route.path), ...handlers, async (req, res) => {
    const issues: ValidationIssue[] = [];
    let badRequest: string | undefined;
    const parse = (
      where: 'path' | 'query' | 'body',
      schema: z.ZodType | undefined,
      value: unknown,
    ) => {
      if (!schema) return undefined;
      const result = schema.safeParse(value);
      if (result.success) return result.data;
      // As FastAPI then Airflow: a parameter that does not validate is 422 first; a value only
      // the operation refuses (an order_by key) is 400 when everything else validated.
      issues.push(...issuesOf(where, result.error));
      badRequest ??= result.error.issues.find(isBadRequest)?.message;
      return undefined;
    };
    // Refuse what PostgreSQL would refuse or alter, up front, rather than fail or change it later.
    // Without a percent-escape, path and query decode to the request line's own characters, which
    // hold neither NUL (the HTTP parser refuses it) nor UTF-16 surrogates: no walk is needed.
    if (req.originalUrl.includes('%'))
      issues.push(
        ...unstorableStrings('path', req.params),
        ...unstorableStrings('query', req.query),
      );
    if (route.body) issues.push(...unstorableStrings('body', req.body));
    if (issues.length > 0) throw ApiError.validation(issues);
    const params = parse('path', route.params, req.params);
    const query = parse('query', route.query, lastOfRepeated(req.query ?? {}, scalars));
    let body: unknown;
    if (route.body) {
      // FastAPI's wording for a required body that was not sent (or not sent as JSON).
      if (req.body === undefined)
        issues.push({ loc: ['body'], msg: 'Field required', type: 'missing' });
      else body = parse('body', route.body, req.body);
    }
    if (issues.length > 0) throw ApiError.validation(issues);
    if (badRequest !== undefined) throw new ApiError('BAD_REQUEST', badRequest);
    const result = await route.handler({ params, query, body, req, res } as RouteInput<
      z.ZodType,
      z.ZodType,
      z.ZodType
    >);
    if (result.stream) {
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      res.status(result.status).type(result.contentType ?? 'text/plain');
      res.flushHeaders();
      for await (const chunk of result.stream(gone.signal)) {
        if (gone.signal.aborted) break;
        res.write(chunk);
      }
      res.end();
    } else if (result.body === undefined) res.status(result.status).end();
    else if (result.body instanceof Uint8Array) {
      if (result.etag !== undefined) {
        // Clients may keep the answer but revalidate it each time; shared caches must not keep it.
        res.setHeader('ETag', result.etag);
        res.setHeader('Cache-Control', 'private, no-cache');
        if (result.status === 200 && noneMatch(req.headers['if-none-match'], result.etag)) {
          res.status(304).end();
          return;
        }
      }
      res.setHeader('Content-Type', result.contentType ?? JSON_CONTENT_TYPE);
      res.status(result.status).end(result.body);
    } else if (result.contentType !== undefined)
      res
        .status(result.status)
        .type(result.contentType)
        .send(typeof result.body === 'string' ? result.body : JSON.stringify(result.body));
    else res.status(result.status).json(result.body);
  });
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

const ETAG_HEADER = z.string().openapi({
  description: 'Strong validator of the answer; send it back as `If-None-Match` to revalidate.',
  example: '"3q2-7wEjN0v4L5mO8Pq9Rs0Tu1Vw2Xy3Za4Bc5De6Fg"',
});

const errorJson = (description: string): ResponseConfig => ({
  description,
  content: { 'application/json': { schema: HTTPExceptionResponse } },
});

const ERROR_DESCRIPTIONS = {
  400: 'Bad Request',
  404: 'Not Found',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
} as const;

export function documentRoute(registry: OpenAPIRegistry, route: RouteDefinition): void {
  const responses: Record<number, ResponseConfig> = {
    [route.success.status]: route.success.schema
      ? {
          description: route.success.description,
          content: {
            [route.success.contentType ?? 'application/json']: { schema: route.success.schema },
            ...Object.fromEntries(
              Object.entries(route.success.alternatives ?? {}).map(([type, schema]) => [
                type,
                { schema },
              ]),
            ),
          },
        }
      : { description: route.success.description },
  };
  if (route.conditional) {
    responses[route.success.status]!.headers = z.object({ ETag: ETAG_HEADER });
    responses[304] = {
      description: 'Not Modified: `If-None-Match` names the current `ETag` (no body)',
      headers: z.object({ ETag: ETAG_HEADER }),
    };
  }
  if (route.auth !== false)
    responses[401] = errorJson('Unauthorized: missing or invalid bearer token');
  for (const status of route.errors ?? [])
    responses[status] = errorJson(ERROR_DESCRIPTIONS[status]);
  // An order_by key the operation does not know is 400, as Airflow's SortParam answers it.
  if (route.query instanceof z.ZodObject && 'order_by' in route.query.shape)
    responses[400] ??= errorJson(ERROR_DESCRIPTIONS[400]);
  if (route.params || route.query || route.body) {
    responses[422] = {
      description: 'Validation Error',
      content: { 'application/json': { schema: HTTPValidationError } },
    };
  }
  responses[503] = errorJson('Service Unavailable: the metadata database is unreachable');
  registry.registerPath({
    method: route.method,
    path: route.path,
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: route.tags,
    security: route.auth === false ? [] : [{ HTTPBearer: [] }],
    request: {
      ...(route.params ? { params: route.params as z.ZodObject } : {}),
      ...(route.query ? { query: route.query as z.ZodObject } : {}),
      ...(route.conditional
        ? {
            headers: z.object({
              'If-None-Match': z.string().optional().openapi({
                description: 'An `ETag` received earlier: 304 without a body while it still holds.',
              }),
            }),
          }
        : {}),
      ...(route.body
        ? { body: { required: true, content: { 'application/json': { schema: route.body } } } }
        : {}),
    },
    responses,
  });
}
