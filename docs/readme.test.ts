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

describe("packages/dagbag/README.md's API table", () => {
  /** The backticked names of a table cell, without call signatures (`get(id)` -> `get`). */
  const names = (cell: string) =>
    [...cell.matchAll(/`([A-Za-z_][\w]*)(?:\(|`)/g)].map(([, name]) => name!);

  it('names only what the package exports, and only methods DagBag has', async () => {
    const dagbag: Record<string, unknown> = await import('@dagbag/dagbag');
    const testing: Record<string, unknown> = await import('@dagbag/dagbag/testing');
    const index = await readFile(
      new URL('../packages/dagbag/src/index.ts', import.meta.url),
      'utf8',
    );
    // Types leave nothing at run time: read them from the export lists of src/index.ts.
    const exported = new Set(
      [...index.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap(([, list]) =>
        list!
          .split(',')
          .map((item) => item.replace(/^\s*type\s+/, '').trim())
          .filter(Boolean),
      ),
    );
    const readme = await readFile(new URL('../packages/dagbag/README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('| export | what |');
    const rows = readme.slice(start, readme.indexOf('\n\n', start)).split('\n').slice(2);
    expect(rows.length).toBeGreaterThan(5);
    const missing: string[] = [];
    for (const row of rows) {
      const [, first = '', second = ''] = row.split(/(?<!\\)\|/);
      if (first.includes('@dagbag/dagbag/testing')) {
        for (const name of names(second)) if (!(name in testing)) missing.push(`testing ${name}`);
        continue;
      }
      for (const name of names(first)) if (!exported.has(name)) missing.push(name);
      if (names(first).includes('DagBag')) {
        const prototype = (dagbag.DagBag as { prototype: Record<string, unknown> }).prototype;
        for (const method of names(second))
          if (typeof prototype[method] !== 'function') missing.push(`DagBag.${method}`);
      }
    }
    expect(missing, 'named in packages/dagbag/README.md but not in the code').toEqual([]);
  });
});

describe("packages/dagbag/README.md's settings table", () => {
  it("gives each role's defaults as the code has them", async () => {
    const { CACHE_VARIABLES, defaultCacheSettings } = await import('@dagbag/dagbag');
    const readme = await readFile(new URL('../packages/dagbag/README.md', import.meta.url), 'utf8');
    const rows = new Map(
      [...readme.matchAll(/^\| `(\w+)`(?: \/ `\w+`)? \| (\d+) \| (\d+) \|/gm)].map(
        ([, variable, api, scheduler]) => [variable!, [Number(api), Number(scheduler)]],
      ),
    );
    const settings = Object.keys(CACHE_VARIABLES) as (keyof typeof CACHE_VARIABLES)[];
    expect(rows.size).toBe(settings.length);
    for (const setting of settings)
      expect(rows.get(CACHE_VARIABLES[setting].api), setting).toEqual([
        defaultCacheSettings('api')[setting],
        defaultCacheSettings('scheduler')[setting],
      ]);
  });
});

describe('the Markdown docs', () => {
  it('name no code identifier (`camelCase`, `PascalCase`) that the code does not have', async () => {
    const { execFileSync } = await import('node:child_process');
    const root = new URL('..', import.meta.url);
    const files = (args: string[]) =>
      execFileSync('git', ['ls-files', ...args], { cwd: root, encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    // Results and round notes are history: they may name what has since gone.
    const docs = files(['*.md']).filter((path) => !/RESULTS\.md$|\/results\//.test(path));
    const code = files([]).filter((path) => !path.endsWith('.md'));
    const words = new Set<string>();
    for (const path of code) {
      const text = await readFile(new URL(path, root), 'utf8').catch(() => '');
      for (const [word] of text.matchAll(/[A-Za-z_][\w]*/g)) words.add(word);
    }
    // Names from elsewhere (Kubernetes), not this code.
    const foreign = new Set(['preStop']);
    const missing: string[] = [];
    for (const path of docs) {
      const text = await readFile(new URL(path, root), 'utf8');
      for (const [, name] of text.matchAll(/`([A-Za-z_]\w*)(?:\([^`]*\))?`/g))
        if (/[a-z][A-Z]|^[A-Z][a-z]+[A-Z]/.test(name!) && !words.has(name!) && !foreign.has(name!))
          missing.push(`${path}: ${name}`);
    }
    expect(missing).toEqual([]);
  });
});
