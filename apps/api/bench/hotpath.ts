/**
 * `pnpm --filter @dagbag/api bench:hotpath`: the warm request path against its floor, side by side
 * in one run (separate from `pnpm bench`, whose incident replay takes many minutes).
 *
 * 1. An embedded PostgreSQL gets the example DAGs (`pnpm db:seed`'s history) plus
 *    BENCH_HOTPATH_DAGS more DAG rows, so that `GET /dags?limit=50` answers a full page.
 * 2. The real API (`node src/main.ts`, JSON logs at info to /dev/null, telemetry on, no OTLP) and a
 *    bare-Express floor (bench/floor.ts: the same bearer check, the same bytes / the same SQL over
 *    plain pg) run as two processes.
 * 3. BENCH_HOTPATH_ROUNDS rounds, each loading in turn (autocannon, BENCH_HOTPATH_CONNECTIONS
 *    connections, BENCH_HOTPATH_SECONDS s each): floor structure, API structure, API structure with
 *    If-None-Match (304), floor dags, API dags (from its listing cache), and API dags from a second
 *    API with the listing cache off (API_LISTING_CACHE_MAX_BYTES=0: the statement every time).
 *    Then API dags again while another connection changes a listed DAG every BENCH_HOTPATH_CHURN_MS
 *    ms (each change empties the listing cache through its notification: the cost of churn).
 *    Every ratio is taken within one round; the listing cache's lookups by result are printed.
 * 4. The query plan of `GET /dags?limit=50` (EXPLAIN ANALYZE of the statement the API runs).
 * BENCH_HOTPATH_BASELINE_DIR=<another checkout>/apps/api: that version of the API is started too
 * and loaded in the same rounds (before/after ratios from one run).
 * BENCH_HOTPATH_PROFILE=<dir>: instead, profiles the API (`--cpu-prof`) under the warm structure
 * load (BENCH_HOTPATH_PROFILE_PATH=dags: under `GET /dags?limit=50`) and prints the ranked table
 * (bench/cpu-profile.ts).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { freePort } from '@dagbag/config/testing/free-port';
import { listDagsSql, migrateDatabase, startEmbeddedPostgres } from '@dagbag/db';
import { postgresCpuSeconds } from './cpu.ts';
import { profileTable, summarizeProfile } from './cpu-profile.ts';

const env = process.env;
const int = (name: string, fallback: number) =>
  env[name] ? Number.parseInt(env[name], 10) : fallback;
const SETTINGS = {
  rounds: int('BENCH_HOTPATH_ROUNDS', 3),
  seconds: int('BENCH_HOTPATH_SECONDS', 5),
  connections: int('BENCH_HOTPATH_CONNECTIONS', 16),
  dags: int('BENCH_HOTPATH_DAGS', 200),
  /** The churn row: another connection changes a listed DAG this often (ms). */
  churnMs: int('BENCH_HOTPATH_CHURN_MS', 100),
};
const TOKEN = 'bench-token-not-a-secret';
const APP_DIR = join(import.meta.dirname, '..');
const REPO_DIR = join(APP_DIR, '..', '..');
const STRUCTURE_PATH = '/api/v2/dags/example_etl/dagVersions/1/structure';
const DAGS_PATH = '/api/v2/dags?limit=50';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function log(message: string): void {
  process.stderr.write(`[bench:hotpath] ${message}\n`);
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function seed(url: string): Promise<void> {
  const seeded = spawn(process.execPath, ['prisma/seed.ts'], {
    cwd: REPO_DIR,
    env: { ...env, DATABASE_URL: url, DATA_DIR: mkdtempSync(join(tmpdir(), 'hotpath-seed-')) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise((resolve) => seeded.once('exit', resolve));
  if (code !== 0) throw new Error(`the seed failed (exit ${String(code)})`);
  const client = new pg.Client({ connectionString: url });
  client.on('error', (error) => log(`seed client: ${error.message}`));
  await client.connect();
  try {
    // Listing rows as the processor writes them: tags, a schedule, a description, some with an
    // import error recorded for their file (the listing's EXISTS reads it).
    await client.query(
      `INSERT INTO dag (dag_id, fileloc, relative_fileloc, description, timetable_summary, tags,
                        last_parsed_time, next_dagrun_logical_date)
       SELECT 'listed_' || lpad(d::text, 4, '0'), '/dags/listed_' || d || '.json', 'listed_' || d || '.json',
              'A DAG of the listing benchmark', '@daily', ARRAY['team_' || (d % 7), 'bench'],
              now(), now() + interval '1 day'
       FROM generate_series(1, $1::int) d`,
      [SETTINGS.dags],
    );
    await client.query(
      `INSERT INTO import_error (filename, stacktrace)
       SELECT '/dags/listed_' || d || '.json', 'SyntaxError: bench' FROM generate_series(1, $1::int, 10) d`,
      [SETTINGS.dags],
    );
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

interface Started {
  child: ChildProcess;
  url: string;
  metricsUrl?: string;
}

async function startApi(
  databaseUrl: string,
  nodeFlags: string[] = [],
  apiDir = APP_DIR,
  extraEnv: Record<string, string> = {},
): Promise<Started> {
  const port = await freePort();
  const metricsPort = await freePort();
  const devNull = openSync('/dev/null', 'w');
  // As in production: `node src/main.ts` (the package's start), JSON request logs at info, here
  // written to /dev/null; telemetry on (Prometheus /metrics, no OTLP configured).
  const child = fork(join(apiDir, 'src', 'main.ts'), [], {
    cwd: apiDir,
    execArgv: nodeFlags,
    env: {
      ...env,
      DATABASE_URL: databaseUrl,
      API_AUTH_TOKENS: TOKEN,
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      METRICS_PORT: String(metricsPort),
      // BENCH_HOTPATH_LOG_LEVEL=warn: the same without request lines, to price them.
      LOG_LEVEL: env.BENCH_HOTPATH_LOG_LEVEL ?? 'info',
      LOG_FORMAT: 'json',
      ...extraEnv,
    },
    stdio: ['ignore', devNull, 'inherit', 'ipc'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/api/v2/monitor/health`)).ok)
        return { child, url, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error('the API did not come up');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function startFloor(
  databaseUrl: string,
  structureBody: string,
  dagsSql: string,
): Promise<Started> {
  const child = fork(join(import.meta.dirname, 'floor.ts'), [], {
    cwd: APP_DIR,
    execArgv: [],
    env: {
      ...env,
      DATABASE_URL: databaseUrl,
      FLOOR_TOKEN: TOKEN,
      FLOOR_STRUCTURE_BODY: structureBody,
      FLOOR_DAGS_SQL: dagsSql,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', () => reject(new Error('the floor did not come up')));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  total: number;
  /** CPU time the serving process spent per request (user + system), µs. */
  cpuUs: number;
  /** CPU time of the PostgreSQL server and its backends per request, µs. */
  pgUs: number;
}

/** The embedded PostgreSQL's data directory (its processes' CPU is read from /proc). */
let postgresDir = '';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, in clock ticks (USER_HZ = 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function load(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  server?: ChildProcess,
): Promise<Figures> {
  const cpuBefore = cpuSeconds(server?.pid);
  const pgBefore = postgresCpuSeconds(postgresDir);
  const result = await autocannon({
    url,
    connections: SETTINGS.connections,
    duration: seconds,
    headers,
  });
  const total = Math.max(1, result.requests.total);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    total: result.requests.total,
    cpuUs: ((cpuSeconds(server?.pid) - cpuBefore) * 1e6) / total,
    pgUs: ((postgresCpuSeconds(postgresDir) - pgBefore) * 1e6) / total,
  };
}

/** Runs `work` while another connection changes a listed DAG every `churnMs`. */
async function withChurn<T>(url: string, work: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', (error) => log(`churn client: ${error.message}`));
  await client.connect();
  let changes = 0;
  let pending = Promise.resolve();
  const timer = setInterval(() => {
    pending = client
      .query(`UPDATE dag SET description = 'churn ' || $1::text WHERE dag_id = 'listed_0001'`, [
        String(++changes),
      ])
      .then(() => undefined);
  }, SETTINGS.churnMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    await pending;
    await client.end();
  }
}

const fmt = (figures: Figures) =>
  `${Math.round(figures.rps)} req/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms, ${Math.round(figures.cpuUs)} µs CPU/request (PostgreSQL ${Math.round(figures.pgUs)})${figures.non2xx ? `, non-2xx ${figures.non2xx}` : ''}`;

async function profile(databaseUrl: string, directory: string, path: string): Promise<void> {
  const api = await startApi(databaseUrl, ['--cpu-prof', `--cpu-prof-dir=${directory}`]);
  try {
    await load(`${api.url}${path}`, AUTH, 3);
    const figures = await load(`${api.url}${path}`, AUTH, SETTINGS.seconds * 2);
    log(`profiled load: ${fmt(figures)} (${figures.total} requests)`);
    await waitForExit(api.child);
    const file = readdirSync(directory)
      .filter((name) => name.endsWith('.cpuprofile'))
      .sort()
      .at(-1);
    if (!file) throw new Error(`no .cpuprofile in ${directory}`);
    // Warm-up requests are in the profile too: charge the CPU to every request served.
    const requests = figures.total + Math.round(figures.rps * 3);
    process.stdout.write(`${profileTable(summarizeProfile(join(directory, file), requests))}\n`);
    process.stdout.write(`\nprofile: ${join(directory, file)}; ${requests} requests\n`);
  } finally {
    await waitForExit(api.child);
  }
}

async function main(): Promise<void> {
  log(
    `settings ${JSON.stringify(SETTINGS)}; ${cpus().length} cores; load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
  const pgDir = mkdtempSync(join(tmpdir(), 'dagbag-hotpath-pg-'));
  postgresDir = pgDir;
  const server = await startEmbeddedPostgres({
    dataDir: pgDir,
    port: await freePort(),
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
  });
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE DATABASE hotpath');
    await admin.end();
    const url = server.urlFor('hotpath');
    await migrateDatabase(url);
    log('migrated; seeding');
    await seed(url);
    log('seeded');

    if (env.BENCH_HOTPATH_PROFILE) {
      await profile(
        url,
        env.BENCH_HOTPATH_PROFILE,
        env.BENCH_HOTPATH_PROFILE_PATH === 'dags' ? DAGS_PATH : STRUCTURE_PATH,
      );
      return;
    }

    // The statement the API runs for GET /dags?limit=50 (its defaults: exclude_stale, by dag_id).
    const statement = listDagsSql({
      limit: 50,
      offset: 0,
      excludeStale: true,
      orderBy: [{ column: 'dag_id', descending: false }],
    });
    const inlined = statement.text.replace(/\$(\d+)/g, (_m, n: string) => {
      const value = statement.values[Number(n) - 1];
      return typeof value === 'number' ? String(value) : `'${String(value).replaceAll("'", "''")}'`;
    });
    const client = new pg.Client({ connectionString: url });
    client.on('error', (error) => log(`explain client: ${error.message}`));
    await client.connect();
    log('explaining');
    const plan = await client.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${inlined}`,
    );
    await client.end();

    log('starting the API');
    const api = await startApi(url);
    // The same API with the listing cache off: every GET /dags runs the statement (the miss path).
    const uncached = await startApi(url, [], APP_DIR, { API_LISTING_CACHE_MAX_BYTES: '0' });
    // BENCH_HOTPATH_BASELINE_DIR: another checkout's apps/api (e.g. a worktree of an older
    // commit), loaded in the same rounds, so that "before" and "after" share one run.
    const baselineDir = env.BENCH_HOTPATH_BASELINE_DIR;
    const baseline = baselineDir ? await startApi(url, [], baselineDir) : undefined;
    const structureBody = await (
      await fetch(`${api.url}${STRUCTURE_PATH}`, { headers: AUTH })
    ).text();
    const etag = (await fetch(`${api.url}${STRUCTURE_PATH}`, { headers: AUTH })).headers.get(
      'etag',
    );
    const floor = await startFloor(url, structureBody, inlined);
    try {
      const floorBody = await (await fetch(`${floor.url}/structure`, { headers: AUTH })).text();
      if (floorBody !== structureBody) throw new Error('the floor does not serve the same bytes');
      log(`structure: ${Buffer.byteLength(structureBody)} bytes, ETag ${etag ?? '(none)'}`);
      const conditional = etag ? { ...AUTH, 'if-none-match': etag } : undefined;
      // Warm-up: JIT, pools, the cache entry.
      for (const target of [
        `${floor.url}/structure`,
        `${api.url}${STRUCTURE_PATH}`,
        `${floor.url}/dags`,
        `${api.url}${DAGS_PATH}`,
        `${uncached.url}${DAGS_PATH}`,
        ...(baseline ? [`${baseline.url}${STRUCTURE_PATH}`, `${baseline.url}${DAGS_PATH}`] : []),
      ])
        await load(target, AUTH, 2);

      const rounds: Record<string, Figures>[] = [];
      for (let round = 1; round <= SETTINGS.rounds; round++) {
        const figures: Record<string, Figures> = {};
        const before = loadavg()[0]!;
        const { seconds } = SETTINGS;
        figures.floorStructure = await load(`${floor.url}/structure`, AUTH, seconds, floor.child);
        figures.structure = await load(`${api.url}${STRUCTURE_PATH}`, AUTH, seconds, api.child);
        if (conditional)
          figures.notModified = await load(
            `${api.url}${STRUCTURE_PATH}`,
            conditional,
            seconds,
            api.child,
          );
        figures.floorDags = await load(`${floor.url}/dags`, AUTH, seconds, floor.child);
        figures.dags = await load(`${api.url}${DAGS_PATH}`, AUTH, seconds, api.child);
        figures.dagsChurn = await withChurn(url, () =>
          load(`${api.url}${DAGS_PATH}`, AUTH, seconds, api.child),
        );
        figures.dagsUncached = await load(
          `${uncached.url}${DAGS_PATH}`,
          AUTH,
          seconds,
          uncached.child,
        );
        if (baseline) {
          figures.baselineStructure = await load(
            `${baseline.url}${STRUCTURE_PATH}`,
            AUTH,
            seconds,
            baseline.child,
          );
          figures.baselineDags = await load(
            `${baseline.url}${DAGS_PATH}`,
            AUTH,
            seconds,
            baseline.child,
          );
        }
        rounds.push(figures);
        log(`round ${round} (load average ${before.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)})`);
        for (const [name, value] of Object.entries(figures)) log(`  ${name}: ${fmt(value)}`);
      }

      const median = (values: number[]) => {
        const sorted = [...values].sort((x, y) => x - y);
        const middle = Math.floor(sorted.length / 2);
        return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
      };
      const rows: [string, string, string][] = [
        [`warm structure \`GET ${STRUCTURE_PATH}\``, 'structure', 'floorStructure'],
        ['same, `If-None-Match` → 304', 'notModified', 'floorStructure'],
        [`\`GET ${DAGS_PATH}\` (listing cache)`, 'dags', 'floorDags'],
        [
          `same, a listed DAG changed every ${SETTINGS.churnMs} ms by another connection`,
          'dagsChurn',
          'floorDags',
        ],
        ['same, listing cache off (`API_LISTING_CACHE_MAX_BYTES=0`)', 'dagsUncached', 'floorDags'],
        ['baseline: warm structure', 'baselineStructure', 'floorStructure'],
        ['baseline: `GET /dags?limit=50`', 'baselineDags', 'floorDags'],
        ['this version ÷ baseline: warm structure', 'structure', 'baselineStructure'],
        ['this version ÷ baseline: `GET /dags?limit=50`', 'dags', 'baselineDags'],
        [
          'this version, cache off ÷ baseline: `GET /dags?limit=50`',
          'dagsUncached',
          'baselineDags',
        ],
      ];
      const out: string[] = [
        `load average at the end: ${loadavg()
          .map((n) => n.toFixed(2))
          .join(' ')} (${cpus().length} cores)`,
        '',
        "Throughput ratio = our req/s ÷ the floor's req/s in the same round; CPU ratio = the floor's CPU µs per request ÷ ours (the share of the floor's speed our process would reach with a core to itself); with PostgreSQL = the same with the CPU the database server spent per request added to each side (what a database-backed request costs the machine).",
        '',
        '| endpoint | ours req/s | floor req/s | throughput ratio per round (median) | CPU µs/request ours / floor | CPU ratio per round (median) | with PostgreSQL: CPU µs/request ours / floor (median ratio) | ours p50 / p99 ms |',
        '|---|---|---|---|---|---|---|---|',
      ];
      for (const [label, ours, base] of rows) {
        if (!rounds[0]![ours] || !rounds[0]![base]) continue;
        const rps = rounds.map((r) => r[ours]!.rps / r[base]!.rps);
        const cpu = rounds.map((r) => r[base]!.cpuUs / r[ours]!.cpuUs);
        const all = (f: Figures) => f.cpuUs + f.pgUs;
        const withPg = rounds.map((r) => all(r[base]!) / all(r[ours]!));
        const pgCell = `${rounds.map((r) => `${Math.round(all(r[ours]!))} / ${Math.round(all(r[base]!))}`).join(', ')} (**${median(withPg).toFixed(2)}**)`;
        out.push(
          `| ${label} | ${rounds.map((r) => Math.round(r[ours]!.rps)).join(' / ')} | ${rounds.map((r) => Math.round(r[base]!.rps)).join(' / ')} | ${rps.map((x) => x.toFixed(2)).join(' / ')} (**${median(rps).toFixed(2)}**) | ${rounds.map((r) => `${Math.round(r[ours]!.cpuUs)} / ${Math.round(r[base]!.cpuUs)}`).join(', ')} | ${cpu.map((x) => x.toFixed(2)).join(' / ')} (**${median(cpu).toFixed(2)}**) | ${pgCell} | ${rounds.map((r) => `${r[ours]!.p50} / ${r[ours]!.p99}`).join(', ')} |`,
        );
      }
      // How the listing cache answered over the whole run (warm-up included).
      const exposition = api.metricsUrl ? await (await fetch(api.metricsUrl)).text() : '';
      const lookups = [
        ...exposition.matchAll(
          /^dagbag_api_listing_cache_lookups_total\{result="(\w+)"[^}]*\} (\d+)/gm,
        ),
      ].map((match) => `${match[1]} ${match[2]}`);
      out.push(
        '',
        `Listing cache lookups of the API (whole run): ${lookups.join(', ') || 'none'}.`,
      );
      out.push(
        '',
        `Plan of \`GET ${DAGS_PATH}\` on a miss (EXPLAIN ANALYZE of the statement the API runs):`,
        '',
        '```',
      );
      out.push(...plan.rows.map((row) => row['QUERY PLAN']), '```');
      process.stdout.write(`${out.join('\n')}\n`);
    } finally {
      await waitForExit(floor.child);
      await waitForExit(api.child);
      await waitForExit(uncached.child);
      if (baseline) await waitForExit(baseline.child);
    }
  } finally {
    await server.stop();
    rmSync(pgDir, { recursive: true, force: true });
  }
}

await main();
