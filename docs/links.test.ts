import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

describe('the repository', () => {
  it('names no file outside its own tree (a clone has no ../shared, no DESIGN.md)', () => {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: repoRoot(), encoding: 'utf8' }).trim();
    const self = 'docs/links.test.ts';
    let hits = '';
    try {
      hits = git(
        'grep',
        '-n',
        '-I',
        '-e',
        '\\.\\./shared',
        '-e',
        'DESIGN\\.md',
        '--',
        '.',
        `:!${self}`,
      );
    } catch {
      // git grep exits 1 when nothing matches
    }
    expect(hits).toBe('');
  });
});
