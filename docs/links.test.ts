import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

// Paths outside the repository that no clone has: the developers' notes folder beside it and the
// design document in it. The patterns are assembled so that this file names neither.
const OUTSIDE_PATHS = [['\\.\\.', 'shared'].join('/'), ['DESIGN', 'md'].join('\\.')];

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
        ...OUTSIDE_PATHS.flatMap((pattern) => ['-e', pattern]),
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
