import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';

/**
 * `../<name>` for every folder beside this checkout: a path into a sibling folder works only
 * where that folder happens to be (a developer's machine), never in a user's clone. The folders
 * are read from the disk, so wherever the checkout sits, whatever lies beside it is covered.
 */
function siblingPatterns(root: string): string[] {
  const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return readdirSync(dirname(root), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== basename(root))
    .map((entry) => `\\.\\./${escape(entry.name)}([/'"\`)\\s]|$)`);
}

// The design notes the developers keep beside the repository: a name no clone has either,
// assembled so that this file does not name it.
const DESIGN_NOTES = ['DESIGN', 'md'].join('\\.');

describe('the repository', () => {
  it("names no file outside its own tree (a clone has no developers' sibling folder)", () => {
    const root = repoRoot();
    const patterns = [...siblingPatterns(root), DESIGN_NOTES];
    let hits = '';
    try {
      hits = execFileSync(
        'git',
        ['grep', '-n', '-I', '-E', ...patterns.flatMap((p) => ['-e', p]), '--', '.'],
        { cwd: root, encoding: 'utf8' },
      ).trim();
    } catch {
      // git grep exits 1 when nothing matches
    }
    expect(hits).toBe('');
  });
});
