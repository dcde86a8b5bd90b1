import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the main entry', () => {
  it('imports no Node built-in, so it bundles for a browser', () => {
    const dir = new URL('./', import.meta.url);
    const sources = readdirSync(dir).filter(
      (name) => name.endsWith('.ts') && !name.endsWith('.test.ts'),
    );
    expect(sources).toContain('index.ts');
    for (const name of sources) {
      const text = readFileSync(new URL(name, dir), 'utf8');
      const imports = [...text.matchAll(/from '([^']+)'/g)].map((match) => match[1]);
      expect(
        imports.filter((spec) => spec!.startsWith('node:') || !/^(\.|openapi-fetch$)/.test(spec!)),
        name,
      ).toEqual([]);
    }
  });
});
