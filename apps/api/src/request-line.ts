/**
 * What every request gets before routing, in one middleware with one listener: the headers every
 * answer carries, the request's id, and when its response has been sent (or the client went
 * away) its `http.server.request.duration` sample and its request log line.
 *
 * The line is the one pino-http wrote (same fields, same messages, same levels), written by the
 * app's pino logger with its fields built once: `req` (id, method, url), `res` (statusCode),
 * `responseTime` (ms), and `err` on a failure; `request completed`, `request aborted` (the client
 * went away first) or `request errored`. No child logger per request: `req.log`, for the few lines
 * a handler writes about its request, is made on first use.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@dagbag/logger';
import type { Request, RequestHandler, Response } from 'express';
import type { RequestDurationRecorder } from './request-metrics.ts';

declare module 'node:http' {
  interface IncomingMessage {
    /** `X-Request-Id`: the client's when it sent a usable one, else a random UUID. */
    id: string;
    /** The app's logger with this request's `req` fields (made on first use). */
    readonly log: Logger;
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Fields naming the request on its lines (headers are never logged: nothing to leak). */
function requestFields(req: Request) {
  return { id: req.id, method: req.method, url: req.originalUrl };
}

function levelOf(status: number, failed: boolean): 'error' | 'warn' | 'info' {
  if (status >= 500 && status !== 503) return 'error';
  if (failed || status >= 500) return 'warn';
  return 'info';
}

/**
 * `app` gets `req.log` (a getter on its request prototype); the returned middleware goes first.
 * A 5xx handler leaves the cause as `res.err` for the line (never for the client).
 */
export function requestLine(
  app: { request: object },
  logger: Logger,
  recordDuration: RequestDurationRecorder,
): RequestHandler {
  const children = new WeakMap<Request, Logger>();
  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request): Logger {
      let child = children.get(this);
      if (!child) children.set(this, (child = logger.child({ req: requestFields(this) })));
      return child;
    },
  });
  return (req, res, next) => {
    const started = performance.now();
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    // Every answer is JSON about one caller's data: never sniffed as another type, never cached.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Request-Id', req.id);
    const onFinish = () => {
      res.off('close', onClose);
      finished(req, res, started, true);
    };
    const onClose = () => {
      res.off('finish', onFinish);
      finished(req, res, started, false);
    };
    res.once('finish', onFinish);
    res.once('close', onClose);
    next();
  };

  function finished(req: Request, res: Response, started: number, sent: boolean): void {
    const elapsed = performance.now() - started;
    if (sent) recordDuration(req, res, elapsed / 1000);
    const status = res.statusCode;
    const cause = (res as { err?: unknown }).err;
    const fields = {
      req: requestFields(req),
      res: { statusCode: status },
      responseTime: Math.round(elapsed),
    };
    const level = levelOf(status, cause !== undefined);
    if (cause !== undefined || status >= 500)
      logger[level](
        { ...fields, err: cause ?? new Error(`failed with status code ${status}`) },
        'request errored',
      );
    else
      logger[level](
        fields,
        !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted',
      );
  }
}
