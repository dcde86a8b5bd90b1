import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listDagFiles } from './dag-files.ts';

let base: string;
let dags: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'dagbag-dag-files-'));
  dags = join(base, 'dags');
  mkdirSync(join(dags, 'team'), { recursive: true });
  writeFileSync(join(dags, 'a.json'), '{}');
  writeFileSync(join(dags, 'team', 'b.yaml'), '');
  writeFileSync(join(dags, 'notes.txt'), '');
  mkdirSync(join(dags, '.git'));
  writeFileSync(join(dags, '.git', 'c.json'), '{}');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('listDagFiles', () => {
  it('lists the DAG files of the folder and its subfolders, hidden ones left out', async () => {
    expect(await listDagFiles(dags)).toEqual([join(dags, 'a.json'), join(dags, 'team', 'b.yaml')]);
  });

  it('lists each DAG file once when links lead back up the DAGs folder', async () => {
    // Followed blindly, each such link repeats every file at each level down to ELOOP (40),
    // and two of them 2^40 times: the processor never finished a pass.
    symlinkSync('..', join(dags, 'team', 'up'));
    symlinkSync('.', join(dags, 'again'));
    expect(await listDagFiles(dags)).toEqual([join(dags, 'a.json'), join(dags, 'team', 'b.yaml')]);
  });

  it('follows a link to a folder outside the DAGs folder, once', async () => {
    mkdirSync(join(base, 'common'));
    writeFileSync(join(base, 'common', 'd.json'), '{}');
    symlinkSync(join(base, 'common'), join(dags, 'common'));
    symlinkSync(join(base, 'common'), join(dags, 'team', 'common-again'));
    symlinkSync(join(base, 'common'), join(base, 'common', 'itself'));
    expect(await listDagFiles(dags)).toEqual([
      join(dags, 'a.json'),
      join(dags, 'common', 'd.json'),
      join(dags, 'team', 'b.yaml'),
    ]);
  });

  it('is empty for a folder that does not exist', async () => {
    expect(await listDagFiles(join(base, 'missing'))).toEqual([]);
  });
});
