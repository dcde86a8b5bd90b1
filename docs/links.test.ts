import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

// The developers' notes sit in a sibling folder that no clone has; the pattern is assembled so
// that this file does not name it either.
const SIBLING_NOTES = ['\\.\\.', 'shared'].join('/');

describe('the repository', () => {
  it("names no file outside its own tree (a clone has no developers' sibling folder)", () => {
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
        SIBLING_NOTES,
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
