/** bench/RESULTS.md from the figures of a run (bench/results/summary.json). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './index.ts';

/** Longer runs kept beside the main one (`results/supplementary-<name>/summary.json`). */
export function readSupplementary(
  resultsDir: string,
): { dir: string; summary: Record<string, any> }[] {
  return readdirSync(resultsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name.startsWith('supplementary-'))
    .map((entry) => ({
      dir: entry.name,
      summary: JSON.parse(readFileSync(join(resultsDir, entry.name, 'summary.json'), 'utf8')),
    }));
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** The `BENCH_*=...` prefix that reproduces a run's settings (empty for the defaults). */
function commandOverrides(s: Record<string, number>): string {
  return Object.entries({
    BENCH_VERSIONS: [s.versions, 20_000],
    BENCH_LOAD_SECONDS: [s.loadSeconds, 10],
  })
    .filter(([, [value, fallback]]) => value !== fallback)
    .map(([name, [value]]) => `${name}=${value} `)
    .join('');
}

export function resultsMarkdown(
  summary: Record<string, any>,
  supplementary: { dir: string; summary: Record<string, any> }[] = [],
): string {
  const [bounded, half, , heuristics, unbounded] = summary.modes;
  const load = summary.load as LoadResult;
  const s = summary.settings as Record<string, number>;
  const overrides = commandOverrides(s);
  return `# apps/api benchmark results

Command: \`cd apps/api && ${overrides}pnpm bench\` (all settings: \`${JSON.stringify(s)}\`; every \`BENCH_*\` variable is optional).
Machine: ${summary.machine.cpus} cores, ${summary.machine.memory_gib} GiB, Node ${summary.machine.node}; the embedded PostgreSQL, the API process and the
load generator share the 2 cores. The API is the real \`src/main.ts\` (telemetry, Prisma, the \`api\` DagBag, the
\`API_GC_HEADROOM_PERCENT\` it applies at start), started without heap flags, with a preloaded IPC memory sampler
(\`bench/memory-sampler.ts\`).

## Incident 1: ${s.versions} versions (average ${summary.average_serialized_bytes} bytes serialized) requested in random order

Chart: [\`bench/results/memory.svg\`](results/memory.svg) (RSS solid, heap used dashed); samples every ${s.sampleMs} ms:
[\`bench/results/memory.csv\`](results/memory.csv); every figure: [\`bench/results/summary.json\`](results/summary.json).

| mode | idle RSS after warm-up | RSS at 25 / 50 / 100 % of the sweep | peak RSS | after a full GC at the end: RSS / heap | entries | weight | sweep |
|---|---|---|---|---|---|---|---|
${summary.modes
  .map(
    (m: any) =>
      `| ${m.mode} | ${m.baseline_rss_mib} MiB | ${m.rss_at_25_50_100_pct_mib.join(' / ')} MiB | ${m.peak_rss_mib} MiB | ${m.retained_after_gc.rss_mib} / ${m.retained_after_gc.heap_used_mib} MiB | ${m.cache.entries} | ${m.cache.weight_mib} MiB | ${m.sweep_seconds} s (${m.requests_per_second} req/s) |`,
  )
  .join('\n')}

CPU time per request of each sweep (\`bench/cpu.ts\`: the API process, the PostgreSQL server with its backends and this
load generator, from /proc), and the request rate it gives with the 2 cores to the sweep alone. On a shared machine the
wall clock measures the neighbours too (the load average is in the last column); the CPU time is what a request costs.

| mode | CPU per request: API | PostgreSQL | load generator | total | req/s on 2 cores of its own | req/s by the wall clock (load average) |
|---|---:|---:|---:|---:|---:|---|
${summary.modes
  .map(
    (m: any) =>
      `| ${m.mode} | ${m.cpu_ms_per_request.api} ms | ${m.cpu_ms_per_request.postgres} ms | ${m.cpu_ms_per_request.load_generator} ms | ${m.cpu_ms_per_request.total} ms | ${m.requests_per_second_on_two_cores} | ${m.requests_per_second} (${m.load_average}) |`,
  )
  .join('\n')}

**Measured factor: ${summary.factor.rss_per_budget_byte} bytes of RSS per byte of cache budget**, the slope between the two smaller budgets under
the same traffic (${summary.baseline_plateau_mib} MiB RSS with ${Math.round((s.baselineCacheBytes ?? 0) / 1024)} KiB, ${summary.half_budget_plateau_mib} MiB with ${half.cache.weight_mib} MiB, each the highest RSS of the second half
of its sweep). It is measured, not assumed, and the default budget's run is not used to fit it, so the ceiling below can fail.
Its parts: the cache's live heap and its rendered answers' bytes (outside the heap) are ${summary.factor.heap_per_weight_byte} bytes per byte of weight (the heap alone ${summary.factor.heap_per_serialized_byte} per serialized byte; unbounded run after a full GC,
so the weight estimate is within ${Math.round(Math.abs(1 - summary.factor.heap_per_weight_byte) * 100)} % of the memory an entry really retains), and V8 keeps up to \`API_GC_HEADROOM_PERCENT\` (25 %)
more of it as not-yet-collected garbage plus pooled pages, because a bounded cache under churn sits at the top of V8's collection
sawtooth. (The unbounded run's RSS per weight byte after a full GC, ${summary.factor.unbounded_rss_per_weight_byte}, is lower: a heap that only grows spends most of its time below the top of that sawtooth.)

**Process baseline: ${summary.loaded_baseline_rss_mib} MiB**, the same API serving the same sweep with the cache at zero budget (extrapolated
from the ${Math.round((s.baselineCacheBytes ?? 0) / 1024)} KiB run; idle after warm-up the process holds ${summary.idle_baseline_rss_mib} MiB, and serving misses grows V8's young generation
to its full size and needs room for the per-miss garbage, none of which is the cache's).

**Ceiling for the defaults = baseline + API_DAG_CACHE_MAX_BYTES (256 MiB) × factor = ${summary.expected_ceiling_mib} MiB.**

- **Defaults level off ${summary.defaults_within_ceiling ? 'within the ceiling' : 'ABOVE the ceiling'}**: RSS peaks at **${summary.defaults_peak_rss_second_half_mib} MiB** over the second half of the sweep (ceiling ${summary.expected_ceiling_mib} MiB) and grows ${summary.defaults_second_half_growth_pct} % over it; the cache stops at ${bounded.cache.weight_mib} MiB of weight (${bounded.cache.entries} entries, ${bounded.cache.admission_rejections} newcomers refused by admission) and the live heap after a full GC is ${bounded.retained_after_gc.heap_used_mib} MiB.
- **Unbounded grows** with the number of versions: ${unbounded.rss_at_25_50_100_pct_mib.join(' → ')} MiB RSS, ${unbounded.retained_after_gc.heap_used_mib} MiB of heap still live after a full GC (${unbounded.cache.entries} entries); that is incident 1.
- **Why the GC headroom is part of the defaults**: with V8's own heuristics (\`API_GC_HEADROOM_PERCENT=0\`) the same cache and the same live heap (${heuristics.retained_after_gc.heap_used_mib} MiB after a full GC) sit in **${summary.heuristics_peak_rss_second_half_mib} MiB** of RSS. Almost every request of this sweep is a miss, and about a fifth of what a miss allocates outlives a young-generation collection (\`--trace-gc-nvp\`: ~20 % of the bytes survive a scavenge and ~99 % of survivors are promoted; with the version read through plain pg instead of Prisma's \`$queryRaw\` it is ~14 %); V8 lets such garbage pile up in the old generation to up to 4× the live heap before it collects, and keeps the pages. The API sets V8's heap growth to \`API_GC_HEADROOM_PERCENT\` (default 25 %) at start, so resident memory follows the live heap the cache bounds, for ${bounded.requests_per_second} req/s here against ${heuristics.requests_per_second} req/s with V8's heuristics (more frequent full collections; this sweep is all misses, the worst case for it).

## Load: warm structure endpoint next to health (same run, defaults)

autocannon, ${s.loadConnections} connections, ${s.loadSeconds} s per endpoint, after a warm-up run; same process and database.

| endpoint | requests/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
| \`GET ${load.structurePath}\` | ${round(load.structure.requestsPerSecond)} | ${load.structure.p50} ms | ${load.structure.p99} ms | ${load.structure.non2xx} |
| \`GET /api/v2/monitor/health\` | ${round(load.health.requestsPerSecond)} | ${load.health.p50} ms | ${load.health.p99} ms | ${load.health.non2xx} |

Ratio structure / health: **${round(load.ratio, 2)}** (goal ≥ 0.7: ${load.ratio >= 0.7 ? 'met' : 'not met'}). The structure request is answered from
memory (the cache's index by DAG and version number, then the cached DAG); health runs two small queries (ping, the scheduler's heartbeat).
${supplementary.map(supplementarySection).join('')}${carriedSection('all-miss.md')}${hotpathSection()}`;
}

/**
 * A section measured by its own command and kept in `results/<file>` (the all-miss profile of issue
 * 13: `results/all-miss.md`): carried over whenever this file is regenerated.
 */
function carriedSection(file: string): string {
  const path = join(import.meta.dirname, 'results', file);
  return existsSync(path) ? `\n${readFileSync(path, 'utf8')}` : '';
}

/**
 * The request-path section (`pnpm bench:hotpath`'s tables and profiles, kept in
 * `results/hotpath.md`): carried over whenever this file is regenerated.
 */
function hotpathSection(): string {
  const path = join(import.meta.dirname, 'results', 'hotpath.md');
  return existsSync(path) ? `\n${readFileSync(path, 'utf8')}` : '';
}

function supplementarySection({
  dir,
  summary,
}: {
  dir: string;
  summary: Record<string, any>;
}): string {
  const s = summary.settings as Record<string, number>;
  return `
## Supplementary run: ${s.versions} versions

Command: \`cd apps/api && ${commandOverrides(s)}pnpm bench\`, its \`results/\` files then moved to \`results/${dir}/\`.
Chart [\`bench/results/${dir}/memory.svg\`](results/${dir}/memory.svg), samples and figures in the same folder.

| cache | RSS at 25 / 50 / 100 % of the sweep | peak RSS | live heap after a full GC | entries | weight |
|---|---|---|---|---|---|
${summary.modes
  .map(
    (m: any) =>
      `| ${m.mode} | ${m.rss_at_25_50_100_pct_mib.join(' / ')} MiB | ${m.peak_rss_mib} MiB | ${m.retained_after_gc.heap_used_mib} MiB | ${m.cache.entries} | ${m.cache.weight_mib} MiB |`,
  )
  .join('\n')}

With twice the versions the defaults stay where they were (RSS growth over the second half: ${summary.defaults_second_half_growth_pct} %; peak ${summary.defaults_peak_rss_second_half_mib} MiB against this run's own ceiling of ${summary.expected_ceiling_mib} MiB from its measured factor ${summary.factor?.rss_per_budget_byte}: ${summary.defaults_within_ceiling ? 'within' : 'ABOVE'}) while the unbounded cache keeps growing.
`;
}
