import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { parseDagSource } from '@dagbag/dagbag';

const folder = join(repoRoot(), 'dags');

describe('the example DAGs in dags/', () => {
  it('all parse without problems', async () => {
    const files = (await readdir(folder)).filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const result = parseDagSource(await readFile(join(folder, file), 'utf8'), file);
      expect(result.ok ? [] : result.errors, file).toEqual([]);
    }
  });
});
