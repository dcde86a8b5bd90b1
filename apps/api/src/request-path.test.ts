/**
 * What the request path carries, on the real API process (`src/main.ts`, JSON logs at info): one
 * request log line per request with its fields, `http.server.request.duration` by method, route
 * and status on /metrics, the cache's own metrics, and, only when traces are exported over OTLP,
 * the http, Express and pg spans. The hot path may get cheaper; none of this may go.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TsxChild } from '@dagbag/config/testing/spawn-tsx';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  attribute,
  startOtlpReceiver,
  type OtlpReceiver,
  type OtlpSpan,
} from '@dagbag/telemetry/testing/otlp-receiver';
import { startApiProcess } from './testing/api-process.ts';
import { seedDag, smallDag } from './testing/harness.ts';

const TOKEN = 'request-path-test-token';
const STRUCTURE = '/api/v2/dags/observed/dagVersions/1/structure';
const STRUCTURE_ROUTE = '/api/v2/dags/:dag_id/dagVersions/:version_number/structure';

interface RunningApi {
  child: TsxChild;
  url: string;
  metricsUrl: string;
  data: string;
}

async function startApi(db: TestDatabase, env: Record<string, string> = {}): Promise<RunningApi> {
  const data = mkdtempSync(join(tmpdir(), 'dagbag-request-path-'));
  const api = await startApiProcess({
    DATABASE_URL: db.url,
    DATA_DIR: data,
    API_AUTH_TOKENS: TOKEN,
    ...env,
  });
  return { child: api.child, url: api.url, metricsUrl: api.metricsUrl, data };
}

async function stopApi(api: RunningApi | undefined): Promise<void> {
  if (!api) return;
  if (api.child.process.exitCode === null) api.child.process.kill('SIGTERM');
  await api.child.exited;
  rmSync(api.data, { recursive: true, force: true });
}

const get = (api: RunningApi, path: string, headers: Record<string, string> = {}) =>
  fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers } });

/** Request log lines printed so far; they are written asynchronously, so waits for `last`. */
async function requestLines(
  api: RunningApi,
  last: (line: Record<string, any>) => boolean,
): Promise<Record<string, any>[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const lines = api.child
      .output()
      .split('\n')
      .filter((line) => line.includes('"request completed"') || line.includes('"request errored"'))
      .map((line) => JSON.parse(line) as Record<string, any>);
    if (lines.some(last) || Date.now() > until) return lines;
    await sleep(100);
  }
}

/** `name{labels} value` series of a Prometheus exposition, labels parsed. */
function series(
  exposition: string,
  name: string,
): { labels: Record<string, string>; value: number }[] {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .map((line) => {
      // The OpenTelemetry scope (which library recorded it) is not what a series means.
      const labels = Object.fromEntries(
        [...line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)]
          .filter((m) => !m[1]!.startsWith('otel_scope_'))
          .map((m) => [m[1]!, m[2]!]),
      );
      return { labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) };
    });
}

let db: TestDatabase | undefined;
let receiver: OtlpReceiver | undefined;
let plain: RunningApi | undefined;
let traced: RunningApi | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  await seedDag(db.prisma, 'observed', [smallDag('observed')]);
  receiver = await startOtlpReceiver();
  [plain, traced] = await Promise.all([
    startApi(db),
    startApi(db, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([stopApi(plain), stopApi(traced)]);
  await receiver?.close();
  await db?.drop();
});

describe('the API process without OTLP', () => {
  beforeAll(async () => {
    const api = plain!;
    for (let i = 0; i < 3; i++) expect((await get(api, STRUCTURE)).status).toBe(200);
    expect((await get(api, STRUCTURE, { 'x-request-id': 'traced-request-1' })).status).toBe(200);
    expect((await get(api, '/api/v2/dags?limit=50')).status).toBe(200);
    expect((await get(api, '/api/v2/dags/nope')).status).toBe(404);
    expect((await fetch(`${api.url}/api/v2/dags`)).status).toBe(401);
  });

  it('logs each request once, with its id, method, url, status and response time', async () => {
    // The last request of the sequence: its line is written after all the others.
    const lines = await requestLines(plain!, (l) => l.res?.statusCode === 401);
    const line = lines.find((l) => l.req?.id === 'traced-request-1');
    expect(line).toEqual({
      level: 30,
      time: expect.any(Number),
      pid: plain!.child.process.pid,
      name: 'api',
      req: { id: 'traced-request-1', method: 'GET', url: STRUCTURE },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
      msg: 'request completed',
    });
    expect(lines.filter((l) => l.req?.url === STRUCTURE)).toHaveLength(4);
    expect(lines.find((l) => l.req?.url === '/api/v2/dags/nope')?.res).toEqual({ statusCode: 404 });
    expect(lines.find((l) => l.res?.statusCode === 401)?.req.url).toBe('/api/v2/dags');
    // Generated ids are unique UUIDs when the client sends none.
    const generated = lines.filter((l) => l.req.id !== 'traced-request-1').map((l) => l.req.id);
    expect(new Set(generated).size).toBe(generated.length);
    for (const id of generated) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('records http.server.request.duration by method, route and status on /metrics', async () => {
    const exposition = await (await fetch(plain!.metricsUrl)).text();
    const counts = series(exposition, 'http_server_request_duration_count');
    const structure = counts.find((s) => s.labels.http_route === STRUCTURE_ROUTE);
    expect(structure?.labels).toEqual({
      http_request_method: 'GET',
      http_response_status_code: '200',
      http_route: STRUCTURE_ROUTE,
      network_protocol_version: '1.1',
      url_scheme: 'http',
    });
    expect(structure?.value).toBe(4);
    expect(
      counts.find((s) => s.labels.http_route === '/api/v2/dags')?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      counts.find((s) => s.labels.http_response_status_code === '404')?.labels.http_route,
    ).toBe('/api/v2/dags/:dag_id');
  });

  it('counts the structure reads in the cache metrics: one miss that loaded, then hits', async () => {
    const exposition = await (await fetch(plain!.metricsUrl)).text();
    const hits = series(exposition, 'dagbag_cache_hits_total').filter(
      (s) => s.labels.dagbag_role === 'api',
    );
    expect(hits.reduce((sum, s) => sum + s.value, 0)).toBe(3);
    const misses = series(exposition, 'dagbag_cache_misses_total').filter(
      (s) => s.labels.dagbag_role === 'api',
    );
    expect(misses.reduce((sum, s) => sum + s.value, 0)).toBe(1);
    const weight = series(exposition, 'dagbag_cache_weight');
    expect(weight.find((s) => s.labels.dagbag_role === 'api')?.value).toBeGreaterThan(0);
  });
});

describe('the API process exporting traces over OTLP', () => {
  function spans(scope: string): OtlpSpan[] {
    return receiver!.traces
      .flatMap((request) => request.resourceSpans)
      .filter(
        (resource) => attribute(resource.resource.attributes, 'service.name') === 'dagbag-api',
      )
      .flatMap((resource) => resource.scopeSpans)
      .filter((scopeSpans) => scopeSpans.scope?.name === scope)
      .flatMap((scopeSpans) => scopeSpans.spans);
  }

  beforeAll(async () => {
    expect((await get(traced!, STRUCTURE)).status).toBe(200);
    expect((await get(traced!, '/api/v2/dags?limit=50')).status).toBe(200);
    const until = Date.now() + 15_000;
    while (
      !spans('@opentelemetry/instrumentation-http').some(
        (span) => attribute(span.attributes, 'http.route') === '/api/v2/dags',
      ) &&
      Date.now() < until
    )
      await sleep(100);
  });

  it('exports a server span per request, named by its route, with method, route and status', () => {
    const server = spans('@opentelemetry/instrumentation-http').filter(
      (span) => attribute(span.attributes, 'http.route') === STRUCTURE_ROUTE,
    );
    expect(server).toHaveLength(1);
    expect(server[0]!.name).toBe(`GET ${STRUCTURE_ROUTE}`);
    expect(attribute(server[0]!.attributes, 'http.request.method')).toBe('GET');
    expect(attribute(server[0]!.attributes, 'http.response.status_code')).toBe('200');
    expect(attribute(server[0]!.attributes, 'url.path')).toBe(STRUCTURE);
  });

  it('exports the Express spans: the route handler with its route, and the middleware', () => {
    const express = spans('@opentelemetry/instrumentation-express');
    const handler = express.filter(
      (span) => attribute(span.attributes, 'http.route') === STRUCTURE_ROUTE,
    );
    expect(handler.map((span) => span.name)).toEqual(['request handler']);
    expect(express.filter((span) => span.name.startsWith('middleware - ')).length).toBeGreaterThan(
      0,
    );
  });
});
