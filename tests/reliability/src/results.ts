/**
 * Each scenario records its figures here; the summary (src/summary-setup.ts) turns them into the
 * table printed at the end of the full run and written to RESULTS.md.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One folder per mode: a short run (e.g. inside someone's `pnpm test`) never touches a full run's
 * figures.
 */
export const RESULTS_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '.results',
  process.env.RELIABILITY_FULL === '1' ? 'full' : 'short',
);

export interface ScenarioResult {
  order: number;
  scenario: string;
  load: string;
  faults: string;
  inputs: string;
  lost: number;
  duplicated: number;
  figures: string;
}

export function recordResult(id: string, result: ScenarioResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${id}.json`), JSON.stringify(result, null, 2));
}

export function readResults(): ScenarioResult[] {
  let files: string[];
  try {
    files = readdirSync(RESULTS_DIR).filter((file) => file.endsWith('.json'));
  } catch {
    return [];
  }
  return files
    .map((file) => JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as ScenarioResult)
    .sort((a, b) => a.order - b.order || a.scenario.localeCompare(b.scenario));
}

const cell = (value: string | number) => String(value).replaceAll('|', '\\|').replaceAll('\n', ' ');

export function resultsTable(results: ScenarioResult[]): string {
  const head =
    '| scenario | load held | faults injected | inputs tried | lost | duplicated |\n|---|---|---|---|---|---|\n';
  const rows = results
    .map(
      (r) =>
        `| ${[r.scenario, r.load, r.faults, r.inputs, r.lost, r.duplicated].map(cell).join(' | ')} |`,
    )
    .join('\n');
  const figures = results.map((r) => `- **${cell(r.scenario)}**: ${cell(r.figures)}`).join('\n');
  return `${head}${rows}\n\nFigures:\n\n${figures}\n`;
}
