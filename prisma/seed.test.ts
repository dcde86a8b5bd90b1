import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDagSource } from '@dagbag/dagbag';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import { silentLogger } from '@dagbag/logger';
import { seed } from './seed.ts';

let db: TestDatabase;
let dagsFolder: string;
let logsRoot: string;

const diamond = {
  dag_id: 'demo_diamond',
  schedule: null,
  tasks: [
    { task_id: 'start', operator: 'empty' },
    { task_id: 'left', operator: 'bash', bash_command: 'echo left', upstream: ['start'] },
    { task_id: 'right', operator: 'bash', bash_command: 'echo right', upstream: ['start'] },
    { task_id: 'join', operator: 'empty', upstream: ['left', 'right'] },
  ],
};

beforeAll(async () => {
  db = await createTestDatabase();
  dagsFolder = await mkdtemp(join(tmpdir(), 'dagbag-seed-'));
  logsRoot = join(await mkdtemp(join(tmpdir(), 'dagbag-seed-data-')), 'logs');
  await writeFile(join(dagsFolder, 'diamond.json'), JSON.stringify(diamond));
  await writeFile(
    join(dagsFolder, 'single.json'),
    JSON.stringify({
      dag_id: 'demo_single',
      schedule: null,
      tasks: [{ task_id: 'only', operator: 'bash', bash_command: 'true' }],
    }),
  );
  await writeFile(join(dagsFolder, 'broken.json'), '{ "dag_id": ');
});

afterAll(() => db.drop());

describe('the demo seed', () => {
  it('writes three versions per multi-task DAG, the newest being the file as the processor hashes it', async () => {
    const written = await seed(db.prisma, silentLogger, {
      logsRoot,
      dagsFolder,
      now: new Date('2026-11-21T12:00:00Z'),
    });
    expect(written.sort()).toEqual(['demo_diamond', 'demo_single']);
    const versions = await db.prisma.dagVersion.findMany({
      where: { dagId: 'demo_diamond' },
      orderBy: { versionNumber: 'asc' },
      include: { serializedDag: true },
    });
    expect(versions.map((v) => v.versionNumber)).toEqual([1, 2, 3]);
    const file = parseDagSource(
      await readFile(join(dagsFolder, 'diamond.json'), 'utf8'),
      'diamond.json',
    );
    expect(file.ok && versions[2]!.serializedDag!.dagHash).toBe(file.ok && file.hash);
    expect(await db.prisma.dagVersion.count({ where: { dagId: 'demo_single' } })).toBe(1);
  });

  it('leaves finished runs with task instances and log files', async () => {
    const runs = await db.prisma.dagRun.findMany({
      where: { dagId: 'demo_diamond' },
      include: { taskInstances: true },
    });
    expect(runs).toHaveLength(6);
    expect(new Set(runs.map((r) => r.state))).toEqual(new Set(['success', 'failed']));
    const failedStates = runs
      .filter((r) => r.state === 'failed')
      .flatMap((r) => r.taskInstances.map((ti) => ti.state));
    expect(failedStates).toEqual(expect.arrayContaining(['failed', 'upstream_failed']));
    const log = await readFile(
      join(logsRoot, 'demo_diamond', runs[0]!.runId, 'start', '1.log'),
      'utf8',
    );
    expect(log).toContain('task start finished: success');
  });

  it('is idempotent: a second seed writes nothing', async () => {
    const before = await db.prisma.dagRun.count();
    expect(await seed(db.prisma, silentLogger, { logsRoot, dagsFolder })).toEqual([]);
    expect(await db.prisma.dagRun.count()).toBe(before);
  });

  it('gives each DAG its relative_fileloc relative to DAGS_FOLDER, as the processor does', async () => {
    const dag = await db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'demo_diamond' } });
    expect(dag.relativeFileloc).toBe('diamond.json');
  });
});
