/**
 * `http.server.request.duration`, recorded by the API itself: one histogram sample per request
 * when its response has been sent, with the attributes the OpenTelemetry semantic conventions
 * (and `@opentelemetry/instrumentation-http`) give it: `http.request.method`, `url.scheme`,
 * `network.protocol.version`, `http.route` (the matched Express route, when one matched),
 * `http.response.status_code`, and `error.type` for 5xx. It costs a sample, taken by the request
 * path's `finish` listener (request-line.ts), with or without traces; the http instrumentation is
 * only patched in for spans.
 */
import { metrics, type Attributes, type Histogram, type Meter } from '@opentelemetry/api';
import { API_METRICS, createInstrument } from '@dagbag/metrics';
import type { Request, Response } from 'express';

/** Methods the conventions name; any other is `_OTHER` (bounded cardinality). */
const KNOWN_METHODS = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
  'QUERY',
]);

function routeOf(req: Request): string | undefined {
  const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : undefined;
}

/** Records one request's sample once its response has been sent (`seconds` since it arrived). */
export type RequestDurationRecorder = (req: Request, res: Response, seconds: number) => void;

export function requestDurationRecorder(
  meter: Meter = metrics.getMeter('@dagbag/api'),
): RequestDurationRecorder {
  const histogram: Histogram = createInstrument(meter, API_METRICS.requestDuration);
  return (req, res, seconds) => {
    const status = res.statusCode;
    const attributes: Attributes = {
      'http.request.method': KNOWN_METHODS.has(req.method) ? req.method : '_OTHER',
      'url.scheme': 'http',
      'network.protocol.version': req.httpVersion,
      'http.response.status_code': status,
    };
    const route = routeOf(req);
    if (route !== undefined) attributes['http.route'] = route;
    if (status >= 500) attributes['error.type'] = String(status);
    histogram.record(seconds, attributes);
  };
}
