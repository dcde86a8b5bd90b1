/**
 * DAG cache figures of both roles: the API's monitor/dagbag, and each role's Prometheus /metrics.
 */
import type { DagbagClient } from '@dagbag/client';

export interface CacheFigures {
  role: string;
  source: string;
  entries: number | null;
  weightBytes: number | null;
  maxBytes: number | null;
  hitRatio: number | null;
  evictions: Record<string, number>;
  error?: string;
}

export async function cacheFigures(
  api: DagbagClient,
  metricsUrls: readonly string[],
): Promise<CacheFigures[]> {
  const rows: CacheFigures[] = [];
  const { data: stats } = await api.GET('/api/v2/monitor/dagbag');
  rows.push({
    role: stats!.role,
    source: 'monitor/dagbag',
    entries: stats!.entries,
    weightBytes: stats!.weight_bytes,
    maxBytes: stats!.max_bytes,
    hitRatio: stats!.hit_ratio,
    evictions: stats!.evictions,
  });
  for (const url of metricsUrls) {
    let text: string;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (error) {
      rows.push({
        role: '?',
        source: url,
        entries: null,
        weightBytes: null,
        maxBytes: null,
        hitRatio: null,
        evictions: {},
        error: `unreachable (${(error as Error).message})`,
      });
      continue;
    }
    rows.push(...fromPrometheus(text, url));
  }
  return rows;
}

const SAMPLE = /^(dagbag_cache_[a-z_]+?)(?:\{([^}]*)\})? ([-+\d.eE]+|NaN|[+-]Inf)$/;

/** One row per `dagbag_role` found among the `dagbag_cache_*` samples of a Prometheus text page. */
export function fromPrometheus(text: string, source: string): CacheFigures[] {
  const byRole = new Map<
    string,
    { values: Map<string, number>; evictions: Record<string, number> }
  >();
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line.trim());
    if (!match) continue;
    const [, name, labelText = '', valueText] = match;
    const labels = Object.fromEntries(
      [...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1]!, label[2]!]),
    );
    const role = labels.dagbag_role ?? '?';
    const figures: { values: Map<string, number>; evictions: Record<string, number> } = byRole.get(
      role,
    ) ?? { values: new Map(), evictions: {} };
    byRole.set(role, figures);
    const value = Number(valueText);
    if (name!.startsWith('dagbag_cache_evictions')) {
      const reason = labels.reason ?? 'unknown';
      figures.evictions[reason] = (figures.evictions[reason] ?? 0) + value;
    } else {
      figures.values.set(name!, (figures.values.get(name!) ?? 0) + value);
    }
  }
  return [...byRole].map(([role, { values, evictions }]) => {
    const find = (prefix: string) =>
      [...values].find(
        ([name]) => name.startsWith(prefix) && !/_(bucket|sum|count)$/.test(name),
      )?.[1] ?? null;
    const hits = find('dagbag_cache_hits');
    const misses = find('dagbag_cache_misses');
    return {
      role,
      source,
      entries: find('dagbag_cache_entries'),
      weightBytes: find('dagbag_cache_weight'),
      maxBytes: find('dagbag_cache_max_bytes'),
      hitRatio:
        hits !== null && misses !== null && hits + misses > 0 ? hits / (hits + misses) : null,
      evictions,
    };
  });
}
