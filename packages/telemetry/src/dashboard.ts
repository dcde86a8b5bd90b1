import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@dagbag/config';

/** The Grafana dashboard this repository provisions (ops/grafana/dashboards). */
export const DASHBOARD_PATH = join(repoRoot(), 'ops', 'grafana', 'dashboards', 'dagbag-cache.json');

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

/** Every PromQL expression of the dashboard, with the title of its panel. */
export function dashboardExpressions(
  path = DASHBOARD_PATH,
): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels: Panel[] };
  const found: Array<{ panel: string; expr: string }> = [];
  const visit = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr) found.push({ panel: panel.title ?? '', expr: target.expr });
      visit(panel.panels ?? []);
    }
  };
  visit(dashboard.panels);
  return found;
}

const PROMQL_WORDS = new Set([
  'sum',
  'by',
  'without',
  'rate',
  'irate',
  'increase',
  'histogram_quantile',
  'le',
  'and',
  'or',
  'unless',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'avg',
  'max',
  'min',
  'count',
  'count_over_time',
  'max_over_time',
  'min_over_time',
  'avg_over_time',
  'clamp_min',
  'clamp_max',
  'abs',
  'offset',
  'bool',
  'topk',
  'bottomk',
  'vector',
  'scalar',
  'time',
]);

/**
 * The metric names an expression reads: identifiers that are not PromQL keywords, not label names
 * (inside `by (...)` / `{...}`), not strings and not durations.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  const names = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(names.filter((name) => !PROMQL_WORDS.has(name)))];
}
