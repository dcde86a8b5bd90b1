/**
 * vitest globalSetup: clears the recorded figures before the run; after a full run
 * (RELIABILITY_FULL=1) prints the summary table and writes it to RESULTS.md.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, readResults, resultsTable } from './results.ts';

export default function setup() {
  rmSync(RESULTS_DIR, { recursive: true, force: true });
  return () => {
    if (process.env.RELIABILITY_FULL !== '1') return;
    const results = readResults();
    if (results.length === 0) return;
    const table = resultsTable(results);
    const started = new Date().toISOString();
    const text =
      '# Reliability suite: results of the full run\n\n' +
      `Command: \`pnpm test:reliability\` at the repository root (turbo runs \`RELIABILITY_FULL=1 vitest run\` in tests/reliability). Written ${started}.\n\n` +
      table;
    writeFileSync(join(RESULTS_DIR, '..', '..', 'RESULTS.md'), text);
    process.stdout.write(`\n${table}\n`);
  };
}
