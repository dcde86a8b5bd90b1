import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartRow {
  mode: string;
  versions_requested: number;
  rss_mib: number;
  heap_used_mib: number;
}

/**
 * One SVG: RSS (solid) and heap used (dashed) against versions requested, one colour per cache
 * mode, with the expected ceiling of the bounded cache as a rule.
 */
export async function renderMemoryChart(
  rows: ChartRow[],
  ceilingMib: number,
  title: string,
): Promise<string> {
  const long = rows.flatMap((row) => [
    { mode: row.mode, versions_requested: row.versions_requested, metric: 'RSS', mib: row.rss_mib },
    {
      mode: row.mode,
      versions_requested: row.versions_requested,
      metric: 'heap used',
      mib: row.heap_used_mib,
    },
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 720,
    height: 400,
    layer: [
      {
        data: { values: long },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: {
            field: 'versions_requested',
            type: 'quantitative',
            title: 'distinct versions requested (random order)',
          },
          y: { field: 'mib', type: 'quantitative', title: 'MiB' },
          color: { field: 'mode', type: 'nominal', title: 'cache', legend: { labelLimit: 600 } },
          strokeDash: { field: 'metric', type: 'nominal', title: 'measure' },
        },
      },
      {
        data: {
          values: [
            { ceiling: ceilingMib, label: `expected ceiling ${Math.round(ceilingMib)} MiB` },
          ],
        },
        mark: { type: 'rule', color: 'gray', strokeDash: [2, 4] },
        encoding: { y: { field: 'ceiling', type: 'quantitative' } },
      },
      {
        data: {
          values: [
            {
              ceiling: ceilingMib,
              label: `expected RSS ceiling with defaults: ${Math.round(ceilingMib)} MiB`,
            },
          ],
        },
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: 'gray' },
        encoding: {
          y: { field: 'ceiling', type: 'quantitative' },
          x: { value: 0 },
          text: { field: 'label' },
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
