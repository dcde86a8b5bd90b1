/**
 * `pnpm bench` (apps/api): incident 1 replayed against the real API process (src/main.ts).
 *
 * 1. An embedded PostgreSQL gets BENCH_VERSIONS DAG versions of 20-60 KB serialized each.
 * 2. For each mode (the api defaults; the defaults with V8's own GC headroom; every cap at 0 = the
 *    old unbounded map; a cache too small to matter, for the process's baseline under the same
 *    traffic) the API is started, every version's structure is requested once in random order, and
 *    the process's RSS and heap are sampled over IPC all along (bench/memory-sampler.ts).
 * 3. With the defaults, autocannon loads a warm structure endpoint and /api/v2/monitor/health in
 *    the same run: requests/s ratio and p50/p99.
 * Output: bench/results/memory.csv, memory.svg, summary.json and bench/RESULTS.md.
 * BENCH_EXPERIMENT_FLAGS="<node flags>" instead runs the defaults once with those flags and only
 * logs the figures (results untouched): for trying V8 or preload changes side by side. Several
 * flag sets separated by `|` run interleaved, BENCH_EXPERIMENT_ROUNDS times (default 2), and log
 * one table.
 * BENCH_HEAP_PROFILE_DIR=<dir> writes a heap snapshot and an allocation profile of the API process
 * there (bench/memory-sampler.ts).
 * BENCH_LOAD_GENERATOR=wrk sends the sweep with wrk (bench/sweep.lua; `apt-get install wrk`)
 * instead of node:http in this process: a tenth of the CPU per request.
 * BENCH_MISS_FLOOR=1 instead serves the sweep by the miss floor (bench/miss-floor.ts) and by the
 * API, interleaved, and logs a table of CPU per request (results untouched).
 * BENCH_CONCURRENCY=<n>,<n>,... (several: e.g. 4,8,16,32) instead sweeps the defaults once per
 * number of requests in flight, interleaved BENCH_EXPERIMENT_ROUNDS times, and logs one table
 * with the wall clock's rate next to the CPU's (results untouched).
 * BENCH_API_REPLICAS=<n>,<n>,... (e.g. 1,2) likewise sweeps the number of API processes the sweep
 * is spread over (path i to replica i mod n, the requests in flight shared out; each replica a
 * full API with its own cache, as "Several replicas" in the README deploys them).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { dagHash } from '@dagbag/dagbag';
import { makeDagDocument, seededRandom } from '@dagbag/dagbag/testing';
import { migrateDatabase, startEmbeddedPostgres } from '@dagbag/db';
import { renderMemoryChart, type ChartRow } from './chart.ts';
import { loadGeneratorCpuSeconds, postgresCpuSeconds, processCpuSeconds } from './cpu.ts';
import { readSupplementary, resultsMarkdown } from './report.ts';
import { freePort } from '@dagbag/config/testing/free-port';

const env = process.env;
const int = (name: string, fallback: number) =>
  env[name] ? Number.parseInt(env[name], 10) : fallback;

/** A setting that takes one positive integer or a list of them to compare, e.g. 4,8,16. */
function positiveIntegers(name: string, fallback: number): number[] {
  const listed = (env[name] ?? String(fallback)).split(',').map((n) => Number(n.trim()));
  if (listed.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`${name} must be a positive integer or a list of them, e.g. 4,8,16`);
  return listed;
}

/** BENCH_CONCURRENCY: one number of requests in flight (default 8), or several to compare. */
const CONCURRENCIES = positiveIntegers('BENCH_CONCURRENCY', 8);
/** BENCH_API_REPLICAS: one number of API processes (default 1), or several to compare. */
const REPLICA_COUNTS = positiveIntegers('BENCH_API_REPLICAS', 1);

const SETTINGS = {
  versions: int('BENCH_VERSIONS', 20_000),
  /**
   * Distinct documents; versions reuse them, but every version is parsed and cached on its own, and
   * has a dag_hash of its own: the cache validates each hash once, and distinct versions have
   * distinct hashes in real life.
   */
  templates: int('BENCH_TEMPLATES', 400),
  dags: int('BENCH_DAGS', 100),
  minBytes: int('BENCH_MIN_BYTES', 20_000),
  maxBytes: int('BENCH_MAX_BYTES', 60_000),
  /** Requests in flight during the sweep (the first, if BENCH_CONCURRENCY lists several). */
  concurrency: CONCURRENCIES[0]!,
  sampleMs: int('BENCH_SAMPLE_MS', 250),
  loadSeconds: int('BENCH_LOAD_SECONDS', 10),
  loadConnections: int('BENCH_LOAD_CONNECTIONS', 16),
  seed: int('BENCH_SEED', 1),
  /**
   * Who sends the sweep's requests: `node` (node:http in this process) or `wrk` (Debian's wrk, a
   * C load generator: a tenth of node:http's CPU per request, so the figures measure the API and
   * PostgreSQL rather than the client; `apt-get install wrk`).
   */
  loadGenerator: env.BENCH_LOAD_GENERATOR === 'wrk' ? 'wrk' : 'node',
  /** The cache budget of the baseline mode: small enough to hold nothing to speak of. */
  baselineCacheBytes: int('BENCH_BASELINE_CACHE_BYTES', 1_048_576),
};

const TOKEN = 'bench-token-not-a-secret';
const APP_DIR = join(import.meta.dirname, '..');
const RESULTS_DIR = join(import.meta.dirname, 'results');
const MiB = 1024 * 1024;
const DEFAULT_MAX_BYTES = 268_435_456;

interface MemorySample {
  type: 'sample' | 'after-gc' | 'snapshot';
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

interface ModeResult {
  mode: string;
  samples: { elapsedS: number; versionsRequested: number; sample: MemorySample }[];
  baseline: MemorySample;
  retainedAtEnd: MemorySample;
  peakRss: number;
  stats: {
    entries: number;
    weight_bytes: number;
    admission_rejections: number;
    window_percent: number;
    misses: { loaded: number };
  };
  sweepSeconds: number;
  requestsPerSecond: number;
  /** CPU milliseconds per request of the sweep, by party (see bench/cpu.ts). */
  cpuMsPerRequest: { api: number; postgres: number; loadGenerator: number; total: number };
  /** The sweep's request rate with 2 cores to itself: 2 cores over the CPU time per request. */
  requestsPerSecondOnTwoCores: number;
  /** The machine's 1-minute load average when the sweep ended (other work shares the cores). */
  loadAverage: number;
  load?: LoadResult;
}

interface LoadFigures {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
}

export interface LoadResult {
  structure: LoadFigures;
  health: LoadFigures;
  ratio: number;
  structurePath: string;
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Seeding

async function seed(
  url: string,
): Promise<{ versions: { dagId: string; versionNumber: number }[]; averageBytes: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const random = seededRandom(SETTINGS.seed);
    let totalBytes = 0;
    await client.query(
      'CREATE TABLE bench_template (k int PRIMARY KEY, data jsonb NOT NULL, hash text NOT NULL, bytes int NOT NULL)',
    );
    for (let k = 0; k < SETTINGS.templates; k++) {
      const targetBytes =
        SETTINGS.minBytes + Math.floor(random() * (SETTINGS.maxBytes - SETTINGS.minBytes));
      const document = makeDagDocument({
        targetBytes,
        seed: SETTINGS.seed * 100_000 + k,
        dagId: `bench_template_${k}`,
      });
      const text = JSON.stringify(document);
      await client.query('INSERT INTO bench_template VALUES ($1, $2::jsonb, $3, $4)', [
        k,
        text,
        dagHash(document),
        Buffer.byteLength(text),
      ]);
    }
    const { rows: sizes } = await client.query<{ avg: string; min: number; max: number }>(
      'SELECT avg(bytes) AS avg, min(bytes) AS min, max(bytes) AS max FROM bench_template',
    );
    log(
      `templates: ${SETTINGS.templates}, serialized ${sizes[0]!.min}-${sizes[0]!.max} bytes, average ${Math.round(Number(sizes[0]!.avg))}`,
    );
    await client.query(
      `INSERT INTO dag (dag_id, fileloc, relative_fileloc) SELECT 'bench_' || d, '/dags/bench_' || d || '.json', 'bench_' || d || '.json' FROM generate_series(0, $1::int - 1) d`,
      [SETTINGS.dags],
    );
    await client.query(
      `INSERT INTO dag_version (dag_id, version_number) SELECT 'bench_' || (n % $2::int), n / $2::int + 1 FROM generate_series(0, $1::int - 1) n`,
      [SETTINGS.versions, SETTINGS.dags],
    );
    await client.query(
      `INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash)
       SELECT v.id, v.dag_id, t.data, md5(t.hash || v.id::text) || md5(v.id::text) FROM dag_version v
       JOIN bench_template t ON t.k = abs(hashtext(v.id::text)) % $1::int`,
      [SETTINGS.templates],
    );
    const { rows: total } = await client.query<{ bytes: string }>(
      'SELECT sum(octet_length(data::text)) AS bytes FROM serialized_dag',
    );
    totalBytes = Number(total[0]!.bytes);
    const { rows } = await client.query<{ dag_id: string; version_number: number }>(
      'SELECT dag_id, version_number FROM dag_version',
    );
    return {
      versions: rows.map((r) => ({ dagId: r.dag_id, versionNumber: r.version_number })),
      averageBytes: totalBytes / rows.length,
    };
  } finally {
    await client.end();
  }
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/**
 * The sweep sent by wrk (BENCH_LOAD_GENERATOR=wrk): every path once, in order, over
 * `concurrency` connections of one thread (bench/sweep.lua); fails unless every path was
 * answered 200. Its CPU is counted as the load generator's once it has exited (cpu.ts).
 */
async function sweepWithWrk(url: string, paths: string[], concurrency: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dagbag-bench-wrk-'));
  const pathsFile = join(dir, 'paths');
  writeFileSync(pathsFile, `${paths.join('\n')}\n`);
  try {
    const wrk = spawn(
      'wrk',
      [
        '-t1',
        `-c${concurrency}`,
        '-d3600s',
        '--timeout',
        '60s',
        '-s',
        join(import.meta.dirname, 'sweep.lua'),
        url,
      ],
      {
        env: { ...env, WRK_PATHS: pathsFile, WRK_TOKEN: TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      // Its clock would run to -d: interrupted once the last path answered (bench/sweep.lua).
      if (output.includes('answered all\n') && wrk.exitCode === null) wrk.kill('SIGINT');
    };
    wrk.stdout.on('data', collect);
    wrk.stderr.on('data', collect);
    await new Promise<void>((resolve, reject) => {
      wrk.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new Error('BENCH_LOAD_GENERATOR=wrk needs wrk: apt-get install wrk', { cause: error })
            : error,
        ),
      );
      wrk.once('exit', () => resolve());
    });
    const counts = /^sweep (\d+) (\d+)$/m.exec(output);
    if (counts === null || Number(counts[1]) !== paths.length || Number(counts[2]) !== 0)
      throw new Error(`wrk's sweep did not answer every path with 200:\n${output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// One API process

class ApiProcess {
  readonly samples: MemorySample[] = [];
  private waiters: ((sample: MemorySample) => void)[] = [];
  readonly child: ChildProcess;
  readonly url: string;
  private constructor(child: ChildProcess, url: string) {
    this.child = child;
    this.url = url;
    child.on('message', (message: MemorySample) => {
      if (message.type === 'sample') this.samples.push(message);
      else if (message.type === 'after-gc') this.waiters.shift()?.(message);
    });
  }

  static async start(
    databaseUrl: string,
    cacheEnv: Record<string, string>,
    nodeFlags: string[],
    script = join('src', 'main.ts'),
  ): Promise<ApiProcess> {
    const port = await freePort();
    const child = fork(join(APP_DIR, script), [], {
      cwd: APP_DIR,
      // Started as in production (no heap flags); a mode or BENCH_EXPERIMENT_FLAGS may add some.
      execArgv: [
        '--expose-gc',
        ...nodeFlags,
        '--import',
        'tsx',
        '--import',
        './bench/memory-sampler.ts',
      ],
      env: {
        ...env,
        ...cacheEnv,
        DATABASE_URL: databaseUrl,
        API_AUTH_TOKENS: TOKEN,
        API_HOST: '127.0.0.1',
        API_PORT: String(port),
        METRICS_PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
        BENCH_SAMPLE_MS: String(SETTINGS.sampleMs),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const api = new ApiProcess(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${api.url}/api/v2/monitor/health`)).ok) return api;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error('the API did not come up');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  get(path: string): Promise<Response> {
    return fetch(`${this.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  }

  /**
   * The sweep's request: node:http over keep-alive connections, the body drained and dropped.
   * `fetch` (undici) cost the load generator 0.3-0.6 ms of CPU per request, more than PostgreSQL;
   * this client measures the system rather than itself (its CPU is still reported on its own).
   */
  sweepGet(path: string): Promise<{ status: number; body: () => string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.url}${path}`,
        { agent: this.agent, headers: { authorization: `Bearer ${TOKEN}` } },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status === 200) {
            res.on('data', () => undefined);
            res.on('end', () => resolve({ status, body: () => '' }));
          } else {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({ status, body: () => Buffer.concat(chunks).toString('utf8') }),
            );
          }
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  private readonly agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  /** Full GC in the API process, then one memory reading. */
  measureAfterGc(): Promise<MemorySample> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.send('gc');
    });
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function figures(result: autocannon.Result): LoadFigures {
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
  };
}

async function loadTest(api: ApiProcess, structurePath: string): Promise<LoadResult> {
  const run = (path: string) =>
    autocannon({
      url: `${api.url}${path}`,
      connections: SETTINGS.loadConnections,
      duration: SETTINGS.loadSeconds,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
  // Warm both paths (the structure's version enters the cache; pools are open).
  await run(structurePath);
  const health = figures(await run('/api/v2/monitor/health'));
  const structure = figures(await run(structurePath));
  return {
    structure,
    health,
    ratio: structure.requestsPerSecond / health.requestsPerSecond,
    structurePath,
  };
}

interface Mode {
  name: string;
  cacheEnv: Record<string, string>;
  nodeFlags: string[];
  loadTest: boolean;
  /** The server to start, relative to apps/api (default src/main.ts; bench/miss-floor.ts). */
  script?: string;
  /** The sweep's requests in flight (default SETTINGS.concurrency), shared by the replicas. */
  concurrency?: number;
  /** API processes the sweep is spread over (default 1). */
  replicas?: number;
}

async function runMode(
  mode: Mode,
  databaseUrl: string,
  order: { dagId: string; versionNumber: number }[],
): Promise<ModeResult> {
  log(
    `${mode.name}: starting the API with ${JSON.stringify(mode.cacheEnv)} ${mode.nodeFlags.join(' ')}`,
  );
  // The first replica is sampled for memory and asked for the cache's figures; all share the sweep.
  const apis = await Promise.all(
    Array.from({ length: mode.replicas ?? 1 }, () =>
      ApiProcess.start(databaseUrl, mode.cacheEnv, mode.nodeFlags, mode.script),
    ),
  );
  const api = apis[0]!;
  try {
    // Warm-up that touches no version: code paths, pools, JIT.
    for (const replica of apis)
      for (let i = 0; i < 200; i++)
        await (await replica.get('/api/v2/dags?limit=100')).arrayBuffer();
    const baseline = await api.measureAfterGc();
    const cpuBefore = cpuNow(apis);
    const started = Date.now();
    const samples: ModeResult['samples'] = [];
    let completed = 0;
    let sampleCursor = api.samples.length;
    const collect = () => {
      for (; sampleCursor < api.samples.length; sampleCursor++) {
        const sample = api.samples[sampleCursor]!;
        samples.push({
          elapsedS: (sample.at - started) / 1000,
          versionsRequested: completed,
          sample,
        });
      }
    };
    const collector = setInterval(collect, SETTINGS.sampleMs);
    const sweepPaths = order.map(
      ({ dagId, versionNumber }) => `/api/v2/dags/${dagId}/dagVersions/${versionNumber}/structure`,
    );
    let next = 0;
    let lastLog = Date.now();
    const worker = async () => {
      while (next < order.length) {
        const index = next++;
        const path = sweepPaths[index]!;
        const response = await apis[index % apis.length]!.sweepGet(path);
        if (response.status !== 200)
          throw new Error(`${path}: ${response.status} ${response.body()}`);
        completed++;
        // BENCH_HEAP_PROFILE_DIR: see bench/memory-sampler.ts.
        if (env.BENCH_HEAP_PROFILE_DIR && completed === Math.floor(order.length / 4))
          api.child.send('heap-sampling-start');
        if (env.BENCH_HEAP_PROFILE_DIR && completed === Math.floor(order.length / 2))
          api.child.send('snapshot');
        if (env.BENCH_HEAP_PROFILE_DIR && completed === Math.floor((order.length * 3) / 4))
          api.child.send('heap-sampling-stop');
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          const last = api.samples.at(-1);
          log(
            `${mode.name}: ${completed}/${order.length} versions, RSS ${last ? Math.round(last.rss / MiB) : '?'} MiB`,
          );
        }
      }
    };
    const concurrency = mode.concurrency ?? SETTINGS.concurrency;
    if (SETTINGS.loadGenerator === 'wrk')
      await Promise.all(
        apis.map((replica, r) =>
          sweepWithWrk(
            replica.url,
            sweepPaths.filter((_, i) => i % apis.length === r),
            Math.ceil(concurrency / apis.length),
          ),
        ),
      );
    else await Promise.all(Array.from({ length: concurrency }, worker));
    const sweepSeconds = (Date.now() - started) / 1000;
    const cpuAfter = cpuNow(apis);
    const perRequest = (party: keyof typeof cpuBefore) =>
      ((cpuAfter[party] - cpuBefore[party]) * 1000) / order.length;
    const cpuMsPerRequest = {
      api: perRequest('api'),
      postgres: perRequest('postgres'),
      loadGenerator: perRequest('loadGenerator'),
      total: 0,
    };
    cpuMsPerRequest.total =
      cpuMsPerRequest.api + cpuMsPerRequest.postgres + cpuMsPerRequest.loadGenerator;
    log(
      `${mode.name}: CPU per request ${cpuMsPerRequest.total.toFixed(3)} ms (API ${cpuMsPerRequest.api.toFixed(3)}, PostgreSQL ${cpuMsPerRequest.postgres.toFixed(3)}, load generator ${cpuMsPerRequest.loadGenerator.toFixed(3)}): ${Math.round(2000 / cpuMsPerRequest.total)} req/s on 2 cores of its own, ${Math.round(2000 / (cpuMsPerRequest.api + cpuMsPerRequest.postgres))} req/s for the API and PostgreSQL alone; ${(order.length / sweepSeconds).toFixed(1)} req/s by the wall clock, load average ${loadavg()[0]!.toFixed(1)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, SETTINGS.sampleMs * 2));
    clearInterval(collector);
    collect();
    // wrk reports no progress while it runs: a sample's progress is its share of the sweep's time.
    if (SETTINGS.loadGenerator === 'wrk')
      for (const sample of samples)
        sample.versionsRequested = Math.min(
          order.length,
          Math.round((order.length * sample.elapsedS) / sweepSeconds),
        );
    const stats = (await (await api.get('/api/v2/monitor/dagbag')).json()) as ModeResult['stats'];
    const retainedAtEnd = await api.measureAfterGc();
    const peakRss = Math.max(...samples.map((s) => s.sample.rss));
    if (apis.length > 1)
      log(
        `${mode.name}: peak RSS by replica ${apis.map((replica) => Math.round(Math.max(...replica.samples.map((s) => s.rss)) / MiB)).join(' / ')} MiB (the figures below are the first's)`,
      );
    log(
      `${mode.name}: ${order.length} versions in ${sweepSeconds.toFixed(1)} s; cache ${stats.entries} entries, ${Math.round(stats.weight_bytes / MiB)} MiB weight, window ${stats.window_percent} %, ${stats.admission_rejections} refused; peak RSS ${Math.round(peakRss / MiB)} MiB`,
    );
    let load: LoadResult | undefined;
    if (mode.loadTest) {
      const warm = order[0]!;
      log(
        `${mode.name}: autocannon, ${SETTINGS.loadConnections} connections, ${SETTINGS.loadSeconds} s per endpoint`,
      );
      load = await loadTest(
        api,
        `/api/v2/dags/${warm.dagId}/dagVersions/${warm.versionNumber}/structure`,
      );
    }
    return {
      mode: mode.name,
      samples,
      baseline,
      retainedAtEnd,
      peakRss,
      stats,
      sweepSeconds,
      requestsPerSecond: order.length / sweepSeconds,
      cpuMsPerRequest,
      requestsPerSecondOnTwoCores: 2000 / cpuMsPerRequest.total,
      loadAverage: loadavg()[0]!,
      load,
    };
  } finally {
    await Promise.all(apis.map((replica) => replica.stop()));
  }
}

// ---------------------------------------------------------------------------------------------

const mib = (bytes: number) => bytes / MiB;

/**
 * RSS when `fraction` of the sweep's `total` versions had been requested (the peak if never
 * sampled).
 */
function rssAt(result: ModeResult, fraction: number, total: number): number {
  return (
    result.samples.find((s) => s.versionsRequested >= total * fraction)?.sample.rss ??
    result.peakRss
  );
}
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** The benchmark's PostgreSQL data folder: its server's CPU time is read by it (bench/cpu.ts). */
let pgDir = '';

function cpuNow(apis: ApiProcess[]): { api: number; postgres: number; loadGenerator: number } {
  return {
    api: apis.reduce((sum, replica) => sum + processCpuSeconds(replica.child.pid!), 0),
    postgres: postgresCpuSeconds(pgDir),
    loadGenerator: loadGeneratorCpuSeconds(),
  };
}

/**
 * Runs each mode's sweep `rounds` times, the modes interleaved (a, b, a, b), and logs a table of
 * CPU per request of each party and the API's memory (results untouched): side by side in one run,
 * as a shared machine needs for a comparison.
 */
async function interleaved(
  title: string,
  modes: Mode[],
  rounds: number,
  url: string,
  order: { dagId: string; versionNumber: number }[],
): Promise<void> {
  const lines: string[] = [];
  for (let round = 1; round <= rounds; round++)
    for (const mode of modes) {
      const result = await runMode(mode, url, order);
      const cpu = result.cpuMsPerRequest;
      lines.push(
        `| ${mode.name}, round ${round} | ${[cpu.api, cpu.postgres, cpu.loadGenerator, cpu.total].map((ms) => ms.toFixed(3)).join(' | ')} | ${Math.round(2000 / cpu.total)} | ${Math.round(2000 / (cpu.api + cpu.postgres))} | ${Math.round(result.requestsPerSecond)} | ${Math.round(mib(result.peakRss))} | ${Math.round(mib(result.retainedAtEnd.heapUsed))} |`,
      );
    }
  log(
    [
      `${title}, ${order.length} versions, load average ${loadavg()[0]!.toFixed(1)}:`,
      '| CPU ms per request | server | PostgreSQL | load generator | total | req/s on 2 cores | req/s, server + PostgreSQL alone | req/s by the wall clock | peak RSS MiB | heap after GC MiB |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...lines,
    ].join('\n'),
  );
}

/**
 * BENCH_MISS_FLOOR=1: the sweep served by the miss floor (bench/miss-floor.ts: the loader's query
 * and JSON.parse, nothing else; once without the parse; once with the misses of an event-loop
 * turn batched into one query, as the API's DagBag does) and by the API with its defaults,
 * interleaved BENCH_MISS_FLOOR_ROUNDS times (default 2).
 */
function missFloor(url: string, order: { dagId: string; versionNumber: number }[]): Promise<void> {
  const floor = (parse: boolean, batch = false): Mode => ({
    name: `floor: ${batch ? 'batched ' : ''}query${parse ? ' + JSON.parse' : ' only'}`,
    cacheEnv: { FLOOR_PARSE: parse ? '1' : '0', FLOOR_BATCH: batch ? '1' : '0' },
    nodeFlags: [],
    loadTest: false,
    script: join('bench', 'miss-floor.ts'),
  });
  const modes = [
    floor(false),
    floor(true),
    floor(true, true),
    { ...defaultsMode, loadTest: false },
  ];
  return interleaved('miss floor', modes, int('BENCH_MISS_FLOOR_ROUNDS', 2), url, order);
}

const defaultsMode: Mode = { name: 'defaults', cacheEnv: {}, nodeFlags: [], loadTest: true };

async function main(): Promise<void> {
  log(`settings ${JSON.stringify(SETTINGS)}`);
  pgDir = mkdtempSync(join(tmpdir(), 'dagbag-api-bench-pg-'));
  const server = await startEmbeddedPostgres({
    dataDir: pgDir,
    port: await freePort(),
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'shared_buffers=512MB',
    ],
  });
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const url = server.urlFor('bench');
    await migrateDatabase(url);
    const seedStarted = Date.now();
    const { versions, averageBytes } = await seed(url);
    log(
      `seeded ${versions.length} versions (average ${Math.round(averageBytes)} bytes serialized) in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`,
    );
    const order = shuffled(versions, SETTINGS.seed);

    if (env.BENCH_MISS_FLOOR === '1') {
      await missFloor(url, order);
      return;
    }
    if (REPLICA_COUNTS.length > 1) {
      const modes = REPLICA_COUNTS.map((replicas): Mode => ({
        ...defaultsMode,
        name: `${replicas} API process${replicas === 1 ? '' : 'es'}`,
        loadTest: false,
        replicas,
      }));
      await interleaved('API processes', modes, int('BENCH_EXPERIMENT_ROUNDS', 2), url, order);
      return;
    }
    if (CONCURRENCIES.length > 1) {
      const modes = CONCURRENCIES.map((concurrency): Mode => ({
        ...defaultsMode,
        name: `${concurrency} in flight`,
        loadTest: false,
        concurrency,
      }));
      await interleaved('in flight', modes, int('BENCH_EXPERIMENT_ROUNDS', 2), url, order);
      return;
    }
    const experimentFlags = env.BENCH_EXPERIMENT_FLAGS;
    if (experimentFlags?.includes('|')) {
      // Several flag sets ('|' between them): interleaved, BENCH_EXPERIMENT_ROUNDS times each.
      const modes = experimentFlags.split('|').map((flags): Mode => ({
        name: flags.trim() || 'no flags',
        cacheEnv: {},
        nodeFlags: flags.split(' ').filter(Boolean),
        loadTest: false,
      }));
      await interleaved('experiment', modes, int('BENCH_EXPERIMENT_ROUNDS', 2), url, order);
      return;
    }
    if (experimentFlags !== undefined) {
      // One defaults run with the given Node/V8 flags, reported in the log only (results
      // untouched).
      const result = await runMode(
        {
          name: `experiment ${experimentFlags}`,
          cacheEnv: {},
          nodeFlags: experimentFlags.split(' ').filter(Boolean),
          loadTest: env.BENCH_EXPERIMENT_LOAD === '1',
        },
        url,
        order,
      );
      log(
        `experiment ${experimentFlags}: RSS at 25/50/100 % ${[0.25, 0.5, 1].map((f) => round(mib(rssAt(result, f, order.length)))).join(' / ')} MiB, peak ${round(mib(result.peakRss))} MiB, after GC ${round(mib(result.retainedAtEnd.rss))} / heap ${round(mib(result.retainedAtEnd.heapUsed))} MiB, ${round(result.requestsPerSecond)} req/s`,
      );
      return;
    }
    const halfBytes = Math.round(DEFAULT_MAX_BYTES / 2);
    const modes: Mode[] = [
      defaultsMode,
      {
        name: `defaults but API_DAG_CACHE_MAX_BYTES=${mib(halfBytes)} MiB`,
        cacheEnv: { API_DAG_CACHE_MAX_BYTES: String(halfBytes) },
        nodeFlags: [],
        loadTest: false,
      },
      {
        name: `baseline: defaults but API_DAG_CACHE_MAX_BYTES=${Math.round(SETTINGS.baselineCacheBytes / 1024)} KiB`,
        cacheEnv: { API_DAG_CACHE_MAX_BYTES: String(SETTINGS.baselineCacheBytes) },
        nodeFlags: [],
        loadTest: false,
      },
      {
        name: "defaults but V8's own GC headroom (API_GC_HEADROOM_PERCENT=0)",
        cacheEnv: { API_GC_HEADROOM_PERCENT: '0' },
        nodeFlags: [],
        loadTest: false,
      },
      {
        name: 'unbounded (all caps 0)',
        cacheEnv: { API_DAG_CACHE_SIZE: '0', API_DAG_CACHE_MAX_BYTES: '0', API_DAG_CACHE_TTL: '0' },
        nodeFlags: [],
        loadTest: false,
      },
    ];
    const results: ModeResult[] = [];
    for (const mode of modes) results.push(await runMode(mode, url, order));
    const [bounded, half, uncached, heuristics, unbounded] = results as [
      ModeResult,
      ModeResult,
      ModeResult,
      ModeResult,
      ModeResult,
    ];

    // Where each bounded mode levels off: its highest RSS over the second half of the sweep.
    const plateau = (result: ModeResult) =>
      Math.max(
        ...result.samples
          .filter((s) => s.versionsRequested >= order.length / 2)
          .map((s) => s.sample.rss),
      );
    // The measured factor: RSS per byte of cache budget at steady state, from the two smaller
    // budgets under the same traffic; it then predicts the defaults, which it was not fitted to.
    const rssPerBudgetByte =
      (plateau(half) - plateau(uncached)) / (halfBytes - SETTINGS.baselineCacheBytes);
    // The process baseline: the same process serving the same sweep with a cache too small to
    // matter (its young generation grown to full size, room for per-miss garbage).
    const loadedBaseline = plateau(uncached) - SETTINGS.baselineCacheBytes * rssPerBudgetByte;
    const ceiling = loadedBaseline + DEFAULT_MAX_BYTES * rssPerBudgetByte;
    const boundedPeakSecondHalf = plateau(bounded);
    // For comparison: live heap and RSS per byte of weight when nothing is evicted (unbounded).
    const rssPerWeightByte =
      (unbounded.retainedAtEnd.rss - unbounded.baseline.rss) / unbounded.stats.weight_bytes;
    // An entry's weight counts its document's heap and its rendered answer's bytes, which live
    // outside the JavaScript heap (an ArrayBuffer: process.memoryUsage().external).
    const retainedBytes = (sample: MemorySample) => sample.heapUsed + sample.external;
    const heapPerWeightByte =
      (retainedBytes(unbounded.retainedAtEnd) - retainedBytes(unbounded.baseline)) /
      unbounded.stats.weight_bytes;
    const heapPerSerializedByte =
      (unbounded.retainedAtEnd.heapUsed - unbounded.baseline.heapUsed) /
      (averageBytes * unbounded.stats.entries);

    const rows: (ChartRow & { elapsed_s: number; heap_total_mib: number; external_mib: number })[] =
      results.flatMap((result) =>
        result.samples.map((s) => ({
          mode: result.mode,
          elapsed_s: round(s.elapsedS, 2),
          versions_requested: s.versionsRequested,
          rss_mib: round(mib(s.sample.rss)),
          heap_used_mib: round(mib(s.sample.heapUsed)),
          heap_total_mib: round(mib(s.sample.heapTotal)),
          external_mib: round(mib(s.sample.external)),
        })),
      );
    const csvHeader =
      'mode,elapsed_s,versions_requested,rss_mib,heap_used_mib,heap_total_mib,external_mib';
    const csv = [
      csvHeader,
      ...rows.map((r) =>
        [
          JSON.stringify(r.mode),
          r.elapsed_s,
          r.versions_requested,
          r.rss_mib,
          r.heap_used_mib,
          r.heap_total_mib,
          r.external_mib,
        ].join(','),
      ),
    ].join('\n');
    writeFileSync(join(RESULTS_DIR, 'memory.csv'), `${csv}\n`);
    const svg = await renderMemoryChart(
      rows,
      mib(ceiling),
      `API process memory, ${order.length} versions of ${Math.round(SETTINGS.minBytes / 1000)}-${Math.round(SETTINGS.maxBytes / 1000)} KB requested in random order`,
    );
    writeFileSync(join(RESULTS_DIR, 'memory.svg'), svg);

    const summary = {
      settings: SETTINGS,
      machine: {
        cpus: cpus().length,
        memory_gib: round(totalmem() / 1024 ** 3),
        node: process.version,
      },
      average_serialized_bytes: Math.round(averageBytes),
      factor: {
        rss_per_budget_byte: round(rssPerBudgetByte, 3),
        unbounded_rss_per_weight_byte: round(rssPerWeightByte, 3),
        heap_per_weight_byte: round(heapPerWeightByte, 3),
        heap_per_serialized_byte: round(heapPerSerializedByte, 2),
      },
      loaded_baseline_rss_mib: round(mib(loadedBaseline)),
      idle_baseline_rss_mib: round(mib(bounded.baseline.rss)),
      expected_ceiling_mib: round(mib(ceiling)),
      modes: results.map((r) => ({
        mode: r.mode,
        baseline_rss_mib: round(mib(r.baseline.rss)),
        peak_rss_mib: round(mib(r.peakRss)),
        rss_at_25_50_100_pct_mib: [0.25, 0.5, 1].map((f) => round(mib(rssAt(r, f, order.length)))),
        retained_after_gc: {
          rss_mib: round(mib(r.retainedAtEnd.rss)),
          heap_used_mib: round(mib(r.retainedAtEnd.heapUsed)),
        },
        cache: {
          entries: r.stats.entries,
          weight_mib: round(mib(r.stats.weight_bytes)),
          loads: r.stats.misses.loaded,
          admission_rejections: r.stats.admission_rejections,
        },
        sweep_seconds: round(r.sweepSeconds),
        requests_per_second: round(r.requestsPerSecond),
        cpu_ms_per_request: {
          api: round(r.cpuMsPerRequest.api, 3),
          postgres: round(r.cpuMsPerRequest.postgres, 3),
          load_generator: round(r.cpuMsPerRequest.loadGenerator, 3),
          total: round(r.cpuMsPerRequest.total, 3),
        },
        requests_per_second_on_two_cores: round(r.requestsPerSecondOnTwoCores, 0),
        load_average: round(r.loadAverage),
      })),
      defaults_peak_rss_second_half_mib: round(mib(boundedPeakSecondHalf)),
      defaults_within_ceiling: boundedPeakSecondHalf <= ceiling,
      half_budget_plateau_mib: round(mib(plateau(half))),
      baseline_plateau_mib: round(mib(plateau(uncached))),
      heuristics_peak_rss_second_half_mib: round(mib(plateau(heuristics))),
      defaults_second_half_growth_pct: round(
        (100 * (rssAt(bounded, 1, order.length) - rssAt(bounded, 0.5, order.length))) /
          rssAt(bounded, 0.5, order.length),
      ),
      unbounded_grows:
        rssAt(unbounded, 1, order.length) > rssAt(unbounded, 0.5, order.length) * 1.2 &&
        rssAt(unbounded, 0.5, order.length) > rssAt(unbounded, 0.25, order.length) * 1.1,
      load: bounded.load,
    };
    writeFileSync(join(RESULTS_DIR, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(
      join(import.meta.dirname, 'RESULTS.md'),
      resultsMarkdown(summary, readSupplementary(RESULTS_DIR)),
    );
    log(`done: ${JSON.stringify(summary, null, 2)}`);
  } finally {
    await server.stop();
    rmSync(pgDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
