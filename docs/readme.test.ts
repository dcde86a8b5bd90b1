import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseDagSource } from '@dagbag/dagbag';
import { ALL_METRICS } from '@dagbag/metrics';
import { README, generatedReadme } from '../scripts/docs.ts';

describe('README.md', () => {
  it('has the configuration and metrics tables the code generates (else run pnpm docs:generate)', async () => {
    const current = await readFile(README, 'utf8');
    expect(
      current,
      'README.md tables are out of date: run `pnpm docs:generate` and commit README.md',
    ).toBe(await generatedReadme(current));
  });

  it('documents every metric of the registry', async () => {
    const current = await readFile(README, 'utf8');
    for (const metric of ALL_METRICS) expect(current).toContain(`\`${metric.name}\``);
  });
});

describe("README.md's DAG files section", () => {
  it('has examples that pass the processor checks', async () => {
    const current = await readFile(README, 'utf8');
    const section = current.slice(current.indexOf('## DAG files'), current.indexOf('## Layout'));
    const examples = [...section.matchAll(/```(json|yaml)\n([\s\S]*?)```/g)];
    expect(examples.map(([, kind]) => kind)).toEqual(['json', 'yaml']);
    for (const [, kind, text] of examples) {
      const parsed = parseDagSource(text!, `example.${kind}`);
      expect(parsed.ok ? [] : parsed.errors).toEqual([]);
    }
  });
});
