/**
 * Scenario 6: soak. Random historical structure requests at a steady rate against a real API
 * process over a database with many DAG versions (more than its cache may hold, so history is
 * crawled through the cache as in incident 1). RSS is sampled from /proc; after warm-up its fitted
 * slope must be about zero; p99 latency of the last third must stay near the first third's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dagDocumentSchema, dagHash } from '@dagbag/dagbag';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import {
  FULL,
  rssBytes,
  scenarioFolder,
  sleep,
  startApi,
  tearDownScenario,
  tokensInLogs,
  type ApiChild,
} from './cluster.ts';
import { recordResult } from './results.ts';

/** RELIABILITY_SOAK_SECONDS overrides the duration (warm-up: a fifth of it) for exploring. */
const OVERRIDE_MS = Number(process.env.RELIABILITY_SOAK_SECONDS ?? 0) * 1000;
const DURATION_MS = OVERRIDE_MS || (FULL ? 10 * 60_000 : 20_000);
const WARM_UP_MS = OVERRIDE_MS ? OVERRIDE_MS / 2 : FULL ? 5 * 60_000 : 8_000;
const RATE_PER_SECOND = FULL ? 50 : 25;
const DAGS = FULL ? 30 : 10;
const VERSIONS_PER_DAG = FULL ? 100 : 60;
const TASKS_PER_VERSION = 40;
/**
 * Far below the versions stored (3,000 full, 600 short), and reached within the warm-up: the crawl
 * keeps the cache at its cap.
 */
const CACHE_SIZE = FULL ? 1000 : 100;
/**
 * Stated bounds. V8 grows its heap in a saw-tooth (tens of MB over a minute, then a major GC drops
 * it) for the first minutes, then settles (first full run: saw-tooth 240-430 MB until ~5 min, then
 * 328 MB flat); so the warm-up is the first half of the full run, and the least-squares slope of
 * all RSS samples after it is asserted. The short run (20 s) cannot show a slope: it asserts the
 * cache's cap and an RSS ceiling and reports its slope. The slope from 2 min is reported too.
 */
const SLOPE_BOUND_MB_PER_MIN = 2;
const RSS_CEILING_MB = 768;
const TOKEN = `rel-${randomBytes(12).toString('hex')}`;

let db: TestDatabase;
let workDir: string;
let api: ApiChild;
const samples: { t: number; mb: number }[] = [];
const latencies: { t: number; ms: number; status: number }[] = [];
let slope = 0;
let slopeFromTwoMinutes = 0;
let p99 = { first: 0, last: 0 };
let cache = { entries: 0, max_entries: 0, evictions: {} as Record<string, number> };

function document(dagId: string, version: number) {
  return dagDocumentSchema.parse({
    dag_id: dagId,
    description: `${dagId} version ${version}`,
    tags: ['soak'],
    tasks: Array.from({ length: TASKS_PER_VERSION }, (_, i) => ({
      task_id: `task_${i}_v${version}`,
      operator: i % 2 ? 'empty' : 'bash',
      ...(i % 2 ? {} : { bash_command: `echo ${dagId} ${version} ${i}` }),
      upstream: i === 0 ? [] : [`task_${Math.floor((i - 1) / 2)}_v${version}`],
    })),
  });
}

async function seedHistory(): Promise<void> {
  const now = new Date();
  await db.prisma.dag.createMany({
    data: Array.from({ length: DAGS }, (_, d) => ({
      dagId: `soak_${d}`,
      fileloc: `/dags/soak_${d}.json`,
      relativeFileloc: `soak_${d}.json`,
      lastParsedTime: now,
      tags: ['soak'],
    })),
  });
  for (let d = 0; d < DAGS; d++) {
    const versions = Array.from({ length: VERSIONS_PER_DAG }, (_, v) => ({
      id: randomUUID(),
      dagId: `soak_${d}`,
      versionNumber: v + 1,
    }));
    await db.prisma.dagVersion.createMany({ data: versions });
    await db.prisma.serializedDag.createMany({
      data: versions.map((version) => {
        const data = document(version.dagId, version.versionNumber);
        return {
          dagVersionId: version.id,
          dagId: version.dagId,
          data: data,
          dagHash: dagHash(data),
        };
      }),
    });
  }
}

/** With RELIABILITY_SOAK_SAMPLES=<file>, the RSS samples are written there (for exploring). */
function samplesOut(): void {
  if (process.env.RELIABILITY_SOAK_SAMPLES)
    writeFileSync(
      process.env.RELIABILITY_SOAK_SAMPLES,
      samples.map((s) => `${s.t} ${s.mb.toFixed(1)}`).join('\n'),
    );
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Least-squares slope of MB against minutes. */
function fitSlope(points: { t: number; mb: number }[]): number {
  const xs = points.map((p) => p.t / 60_000);
  const ys = points.map((p) => p.mb);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

beforeAll(async () => {
  db = await createTestDatabase();
  ({ workDir } = await scenarioFolder('soak'));
  await seedHistory();
  api = await startApi('api-soak', {
    DATABASE_URL: db.url,
    DATA_DIR: workDir,
    API_AUTH_TOKENS: TOKEN,
    API_DAG_CACHE_SIZE: String(CACHE_SIZE),
    LOG_LEVEL: 'warn',
  });

  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  const sampler = setInterval(
    () => samples.push({ t: Date.now() - started, mb: rssBytes(api.pid) / 1024 / 1024 }),
    FULL ? 1000 : 250,
  );
  // Open model: a request leaves every 1/RATE s whether or not the previous ones have answered.
  for (let n = 0; Date.now() - started < DURATION_MS; n++) {
    const due = started + (n * 1000) / RATE_PER_SECOND;
    if (due > Date.now()) await sleep(due - Date.now());
    const path = `/api/v2/dags/soak_${Math.floor(Math.random() * DAGS)}/dagVersions/${1 + Math.floor(Math.random() * VERSIONS_PER_DAG)}/structure`;
    const sent = Date.now();
    const request = fetch(`${api.url}${path}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(10_000),
    })
      .then(async (response) => {
        await response.arrayBuffer();
        latencies.push({ t: sent - started, ms: Date.now() - sent, status: response.status });
      })
      .catch(() => void latencies.push({ t: sent - started, ms: 10_000, status: 0 }))
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  clearInterval(sampler);
  cache = (await (
    await fetch(`${api.url}/api/v2/monitor/dagbag`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  ).json()) as typeof cache;
  samplesOut();
  const steady = samples.filter((s) => s.t >= WARM_UP_MS);
  slope = fitSlope(steady);
  slopeFromTwoMinutes = fitSlope(samples.filter((s) => s.t >= Math.min(WARM_UP_MS, 120_000)));
  const third = DURATION_MS / 3;
  p99 = {
    first: percentile(
      latencies.filter((l) => l.t < third).map((l) => l.ms),
      99,
    ),
    last: percentile(
      latencies.filter((l) => l.t >= 2 * third).map((l) => l.ms),
      99,
    ),
  };
}, DURATION_MS + 300_000);

afterAll(() =>
  tearDownScenario({
    releaseDatabase: () => db?.drop(),
    workDir,
    then: () => {
      const after = samples.filter((s) => s.t >= WARM_UP_MS).map((s) => s.mb);
      recordResult('6-soak', {
        order: 6,
        scenario: '6 soak',
        load: `${RATE_PER_SECOND} req/s for ${DURATION_MS / 1000} s over ${DAGS * VERSIONS_PER_DAG} versions (${TASKS_PER_VERSION} tasks each), cache cap ${CACHE_SIZE} entries`,
        faults: 'none (steady crawl through history)',
        inputs: `${latencies.length} structure requests; non-200: ${latencies.filter((l) => l.status !== 200).length}`,
        lost: 0,
        duplicated: 0,
        figures: `RSS slope after ${WARM_UP_MS / 1000} s warm-up ${slope.toFixed(2)} MB/min (bound ${SLOPE_BOUND_MB_PER_MIN}, full run; from 2 min: ${slopeFromTwoMinutes.toFixed(2)} MB/min); RSS ${Math.min(...after).toFixed(0)}-${Math.max(...after).toFixed(0)} MB; cache ${cache.entries}/${cache.max_entries} entries, evictions ${JSON.stringify(cache.evictions)}; p99 first third ${p99.first} ms, last third ${p99.last} ms; p50 ${percentile(
          latencies.map((l) => l.ms),
          50,
        )} ms`,
      });
    },
  }),
);

describe(`soak: ${DURATION_MS / 1000} s of random historical structure requests at ${RATE_PER_SECOND}/s`, () => {
  it('answers every request with 200', () => {
    expect(latencies.filter((l) => l.status !== 200).length).toBe(0);
  });

  it('holds the steady rate', () => {
    expect(latencies.length).toBeGreaterThanOrEqual(
      Math.floor((DURATION_MS / 1000) * RATE_PER_SECOND * 0.95),
    );
  });

  // Only the 10-minute run can show a slope: 20 s of the short run is all warm-up (it checks the
  // cache cap and an RSS ceiling instead). `pnpm test:reliability` runs this.
  it.runIf(FULL)(
    `keeps the RSS slope after warm-up within ${SLOPE_BOUND_MB_PER_MIN} MB/min`,
    () => {
      expect(Math.abs(slope)).toBeLessThanOrEqual(SLOPE_BOUND_MB_PER_MIN);
    },
  );

  it(`keeps the RSS under ${RSS_CEILING_MB} MB`, () => {
    expect(Math.max(...samples.map((s) => s.mb))).toBeLessThanOrEqual(RSS_CEILING_MB);
  });

  it('keeps the DAG cache at or under its entry cap while crawling history', () => {
    expect(cache.entries).toBeLessThanOrEqual(CACHE_SIZE);
  });

  it('keeps the p99 latency of the last third within twice the first third (plus 20 ms)', () => {
    expect(p99.last).toBeLessThanOrEqual(2 * p99.first + 20);
  });

  it('prints the bearer token in no log', () => {
    expect(tokensInLogs([TOKEN])).toEqual([]);
  });
});
