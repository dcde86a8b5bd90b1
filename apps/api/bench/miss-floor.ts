/**
 * The floor of the all-miss crawl (issue 13): the least a process can do per request and still
 * honour what a miss must do, served to the same sweep as the API
 * (`BENCH_MISS_FLOOR=1 pnpm bench`).
 *
 * node:http without Express, the bearer token compared as a string, the path matched by one
 * regular expression, then the API's own loader query (`createDagVersionLoader(...)
 * .loadVersionsByNumber`, the pg pool the API uses, a named statement) for one version and
 * `JSON.parse` of its document, answered with a few bytes. No logger, no telemetry, no cache, no
 * validation, no DAG built, no render. With FLOOR_PARSE=0 the document is fetched and not parsed.
 * With FLOOR_BATCH=1 the requests that arrive within one event-loop turn share one query, as the
 * DagBag's misses do (its `setImmediate` flush); otherwise each request has a query of its own.
 * Started by bench/index.ts in place of src/main.ts, with the same environment (DATABASE_URL,
 * API_PORT, API_AUTH_TOKENS).
 */
import { createServer } from 'node:http';
import { createDagVersionLoader, createPrismaClient, defaultDatabaseSettings } from '@dagbag/db';

const env = process.env;
const parse = env.FLOOR_PARSE !== '0';
const expected = `Bearer ${env.API_AUTH_TOKENS ?? ''}`;
const STRUCTURE = /^\/api\/v2\/dags\/([^/]+)\/dagVersions\/(\d+)\/structure$/;

const prisma = createPrismaClient({
  url: env.DATABASE_URL ?? '',
  settings: defaultDatabaseSettings(),
  applicationName: 'dagbag-miss-floor',
});
const loader = createDagVersionLoader(prisma);

type Key = { dagId: string; versionNumber: number };
type Row = Awaited<ReturnType<typeof loader.loadVersionsByNumber>>[number];
const batched = env.FLOOR_BATCH === '1';
let pending: { key: Key; resolve: (row: Row | undefined) => void; reject: (e: unknown) => void }[] =
  [];

function load(key: Key): Promise<Row | undefined> {
  if (!batched) return loader.loadVersionsByNumber([key]).then(([row]) => row);
  return new Promise((resolve, reject) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push({ key, resolve, reject });
  });
}

function flush(): void {
  const batch = pending;
  pending = [];
  loader.loadVersionsByNumber(batch.map((item) => item.key)).then(
    (rows) => {
      const byKey = new Map(rows.map((row) => [`${row.dagId}\0${row.versionNumber}`, row]));
      for (const { key, resolve } of batch)
        resolve(byKey.get(`${key.dagId}\0${key.versionNumber}`));
    },
    (error: unknown) => {
      for (const { reject } of batch) reject(error);
    },
  );
}

const server = createServer((req, res) => {
  const url = req.url ?? '';
  if (url === '/api/v2/monitor/health') {
    // Begins as the API's does: wrk's sweep (bench/sweep.lua) leaves health answers uncounted.
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"metadatabase":{}}');
    return;
  }
  if (url.startsWith('/api/v2/dags?')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    return;
  }
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"detail":"no"}');
    return;
  }
  const match = STRUCTURE.exec(url);
  if (match === null) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"not found"}');
    return;
  }
  load({ dagId: match[1]!, versionNumber: Number(match[2]) }).then(
    (row) => {
      if (row === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"unknown"}');
        return;
      }
      const tasks = parse ? (JSON.parse(row.dataText) as { tasks: unknown[] }).tasks.length : 0;
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"tasks":${tasks}}`);
    },
    (error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(String(error)));
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(Number(env.API_PORT), env.API_HOST ?? '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void prisma.$disconnect().then(() => process.exit(0));
});
