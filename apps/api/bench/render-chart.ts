/**
 * Redraws bench/results/memory.svg and bench/RESULTS.md from memory.csv and summary.json without
 * re-running the benchmark: `node --import tsx bench/render-chart.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderMemoryChart, type ChartRow } from './chart.ts';
import { readSupplementary, resultsMarkdown } from './report.ts';

const results = join(import.meta.dirname, 'results');
const summary = JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as Record<
  string,
  any
> & {
  expected_ceiling_mib: number;
  settings: { versions: number; minBytes: number; maxBytes: number };
};
const [header, ...lines] = readFileSync(join(results, 'memory.csv'), 'utf8').trim().split('\n');
const columns = header!.split(',');
const rows: ChartRow[] = lines.map((line) => {
  const cells = line.match(/("[^"]*"|[^,]+)/g)!;
  const value = (name: string) => cells[columns.indexOf(name)]!;
  return {
    mode: JSON.parse(value('mode')) as string,
    versions_requested: Number(value('versions_requested')),
    rss_mib: Number(value('rss_mib')),
    heap_used_mib: Number(value('heap_used_mib')),
  };
});
const { versions, minBytes, maxBytes } = summary.settings;
const svg = await renderMemoryChart(
  rows,
  summary.expected_ceiling_mib,
  `API process memory, ${versions} versions of ${Math.round(minBytes / 1000)}-${Math.round(maxBytes / 1000)} KB requested in random order`,
);
writeFileSync(join(results, 'memory.svg'), svg);
writeFileSync(
  join(import.meta.dirname, 'RESULTS.md'),
  resultsMarkdown(summary, readSupplementary(results)),
);
