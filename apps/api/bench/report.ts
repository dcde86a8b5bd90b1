/** bench/RESULTS.md from the figures of a run (bench/results/summary.json). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './index.ts';

/** Longer runs kept beside the main one (`results/supplementary-<name>/summary.json`). */
export function readSupplementary(resultsDir: string): { dir: string; summary: Record<string, any> }[] {
  return readdirSync(resultsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name.startsWith('supplementary-'))
    .map((entry) => ({ dir: entry.name, summary: JSON.parse(readFileSync(join(resultsDir, entry.name, 'summary.json'), 'utf8')) }));
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** The `BENCH_*=...` prefix that reproduces a run's settings (empty for the defaults). */
function commandOverrides(s: Record<string, number>): string {
  return Object.entries({ BENCH_VERSIONS: [s.versions, 20_000], BENCH_HEAP_CAP_MIB: [s.heapCapMib, 640], BENCH_LOAD_SECONDS: [s.loadSeconds, 10] })
    .filter(([, [value, fallback]]) => value !== fallback)
    .map(([name, [value]]) => `${name}=${value} `)
    .join('');
}

export function resultsMarkdown(summary: Record<string, any>, supplementary: { dir: string; summary: Record<string, any> }[] = []): string {
  const [bounded, capped, unbounded] = summary.modes;
  const load = summary.load as LoadResult;
  const s = summary.settings as Record<string, number>;
  const overrides = commandOverrides(s);
  return `# apps/api benchmark results

Command: \`cd apps/api && ${overrides}pnpm bench\` (all settings: \`${JSON.stringify(s)}\`; every \`BENCH_*\` variable is optional).
Machine: ${summary.machine.cpus} cores, ${summary.machine.memory_gib} GiB, Node ${summary.machine.node}; the embedded PostgreSQL, the API process and the
load generator share the 2 cores. The API is the real \`src/main.ts\` (telemetry, Prisma, the \`api\` DagBag), with a preloaded
IPC memory sampler (\`bench/memory-sampler.ts\`); Node's default heap limits unless a mode says otherwise.

## Incident 1: ${s.versions} versions (average ${summary.average_serialized_bytes} bytes serialized) requested in random order

Chart: [\`bench/results/memory.svg\`](results/memory.svg) (RSS solid, heap used dashed); samples every ${s.sampleMs} ms:
[\`bench/results/memory.csv\`](results/memory.csv); every figure: [\`bench/results/summary.json\`](results/summary.json).

| cache | baseline RSS | RSS at 25 / 50 / 100 % of the sweep | peak RSS | after a full GC at the end: RSS / heap | entries | weight | sweep |
|---|---|---|---|---|---|---|---|
${summary.modes
  .map(
    (m: any) =>
      `| ${m.mode} | ${m.baseline_rss_mib} MiB | ${m.rss_at_25_50_100_pct_mib.join(' / ')} MiB | ${m.peak_rss_mib} MiB | ${m.retained_after_gc.rss_mib} / ${m.retained_after_gc.heap_used_mib} MiB | ${m.cache.entries} | ${m.cache.weight_mib} MiB | ${m.sweep_seconds} s (${m.requests_per_second} req/s) |`,
  )
  .join('\n')}

Measured factor (unbounded run, nothing evicted, after a full GC): **${summary.factor.rss_per_weight_byte} bytes of RSS per byte of cache weight**
(heap: ${summary.factor.heap_per_weight_byte} per weight byte = ${summary.factor.heap_per_serialized_byte} per serialized byte, so the cache's weight estimate is
within ${Math.round(Math.abs(1 - summary.factor.heap_per_weight_byte) * 100)} % of the heap an entry really retains).
Ceiling for the defaults = baseline RSS + API_DAG_CACHE_MAX_BYTES (256 MiB) × factor = **${summary.expected_ceiling_mib} MiB**.

- **Unbounded grows** with the number of versions: ${unbounded.rss_at_25_50_100_pct_mib.join(' → ')} MiB RSS, ${unbounded.retained_after_gc.heap_used_mib} MiB of heap still live after a full GC (${unbounded.cache.entries} entries); that is incident 1.
- **Defaults level off**: the cache stops at ${bounded.cache.weight_mib} MiB of weight (${bounded.cache.entries} entries, ${bounded.cache.admission_rejections} newcomers refused by admission), RSS grows ${summary.defaults_second_half_growth_pct} % over the second half of the sweep, and the live heap after a full GC is ${bounded.retained_after_gc.heap_used_mib} MiB: ${summary.defaults_retained_within_ceiling ? 'within' : 'above'} the ${summary.expected_ceiling_mib} MiB ceiling.
- RSS itself plateaus at ${summary.defaults_peak_rss_second_half_mib} MiB with Node's default heap limits: ${summary.defaults_within_ceiling ? 'within the ceiling' : '**above the ceiling**'}. In this sweep nearly every request is a miss whose freshly deserialized DAG is refused by admission and becomes garbage (≈ ${Math.round((summary.average_serialized_bytes * 4) / 1024)} KB per request); V8 lets the old generation grow to a multiple of the live heap before it collects, and keeps the pages afterwards. The cache bounds what is *live*; V8's headroom is set by its heap limit:
- **Defaults + \`--max-old-space-size=${s.heapCapMib}\`** (\`NODE_OPTIONS\`): RSS plateaus at ${summary.capped_peak_rss_second_half_mib} MiB for the same sweep, at ${capped.requests_per_second} req/s instead of ${bounded.requests_per_second} (more frequent GC). Operators who need a hard RSS bound set the V8 heap limit to about 2 × (budget + baseline heap); without the cache (unbounded) that limit would instead end in an out-of-memory crash.

## Load: warm structure endpoint next to health (same run, defaults)

autocannon, ${s.loadConnections} connections, ${s.loadSeconds} s per endpoint, after a warm-up run; same process and database.

| endpoint | requests/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
| \`GET ${load.structurePath}\` | ${round(load.structure.requestsPerSecond)} | ${load.structure.p50} ms | ${load.structure.p99} ms | ${load.structure.non2xx} |
| \`GET /api/v2/monitor/health\` | ${round(load.health.requestsPerSecond)} | ${load.health.p50} ms | ${load.health.p99} ms | ${load.health.non2xx} |

Ratio structure / health: **${round(load.ratio, 2)}** (goal ≥ 0.7: ${load.ratio >= 0.7 ? 'met' : 'not met'}). The structure request is answered from
memory (remembered version id + cached DAG); health runs two small queries (ping, the scheduler's heartbeat).
${supplementary.map(supplementarySection).join('')}`;
}

function supplementarySection({ dir, summary }: { dir: string; summary: Record<string, any> }): string {
  const s = summary.settings as Record<string, number>;
  return `
## Supplementary run: ${s.versions} versions

Command: \`cd apps/api && ${commandOverrides(s)}pnpm bench\`, its \`results/\` files then moved to \`results/${dir}/\`.
Chart [\`bench/results/${dir}/memory.svg\`](results/${dir}/memory.svg), samples and figures in the same folder.

| cache | RSS at 25 / 50 / 100 % of the sweep | peak RSS | live heap after a full GC | entries | weight |
|---|---|---|---|---|---|
${summary.modes
  .map((m: any) => `| ${m.mode} | ${m.rss_at_25_50_100_pct_mib.join(' / ')} MiB | ${m.peak_rss_mib} MiB | ${m.retained_after_gc.heap_used_mib} MiB | ${m.cache.entries} | ${m.cache.weight_mib} MiB |`)
  .join('\n')}

With twice the versions the defaults stay where they were (RSS growth over the second half: ${summary.defaults_second_half_growth_pct} %) while the unbounded cache keeps growing.
`;
}

