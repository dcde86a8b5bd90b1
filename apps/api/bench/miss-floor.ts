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

const server = createServer((req, res) => {
  const url = req.url ?? '';
  if (url === '/api/v2/monitor/health' || url.startsWith('/api/v2/dags?')) {
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
  loader.loadVersionsByNumber([{ dagId: match[1]!, versionNumber: Number(match[2]) }]).then(
    ([row]) => {
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
