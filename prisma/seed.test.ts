import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleDagsFolder } from '@dagbag/config';
import { parseDagSource } from '@dagbag/dagbag';
import { defaultDatabaseSettings } from '@dagbag/db';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import { silentLogger } from '@dagbag/logger';
import { isExampleDagsFolder, seed, seedIfEmpty } from './seed.ts';

let db: TestDatabase;
let logsRoot: string;

beforeAll(async () => {
  db = await createTestDatabase();
  logsRoot = join(await mkdtemp(join(tmpdir(), 'dagbag-seed-data-')), 'logs');
});

afterAll(() => db.drop());

describe('the demo seed', () => {
  it('writes three versions per multi-task example DAG, the newest being the file as the processor hashes it', async () => {
    const written = await seed(db.prisma, silentLogger, {
      logsRoot,
      now: new Date('2026-11-21T12:00:00Z'),
    });
    expect(written.sort()).toEqual(['example_etl', 'example_hourly', 'example_retries']);
    const versions = await db.prisma.dagVersion.findMany({
      where: { dagId: 'example_etl' },
      orderBy: { versionNumber: 'asc' },
      include: { serializedDag: true },
    });
    expect(versions.map((v) => v.versionNumber)).toEqual([1, 2, 3]);
    const file = parseDagSource(
      await readFile(join(exampleDagsFolder(), 'example_etl.json'), 'utf8'),
      'example_etl.json',
    );
    expect(file.ok && versions[2]!.serializedDag!.dagHash).toBe(file.ok && file.hash);
  });

  it('leaves finished runs with task instances and log files', async () => {
    const runs = await db.prisma.dagRun.findMany({
      where: { dagId: 'example_etl' },
      include: { taskInstances: true },
    });
    expect(runs).toHaveLength(6);
    expect(new Set(runs.map((r) => r.state))).toEqual(new Set(['success', 'failed']));
    const failedStates = runs
      .filter((r) => r.state === 'failed')
      .flatMap((r) => r.taskInstances.map((ti) => ti.state));
    expect(failedStates).toEqual(expect.arrayContaining(['failed', 'upstream_failed']));
    const log = await readFile(
      join(logsRoot, 'example_etl', runs[0]!.runId, 'extract', '1.log'),
      'utf8',
    );
    expect(log).toMatch(/task extract finished: (success|failed)/);
  });

  it("gives the demo task instances UUIDv7 ids in their DAG's task order, as a real run has", async () => {
    const run = await db.prisma.dagRun.findFirstOrThrow({
      where: { dagId: 'example_etl' },
      include: { taskInstances: { orderBy: { id: 'asc' } } },
    });
    const version = await db.prisma.serializedDag.findFirstOrThrow({
      where: { dagVersionId: run.createdDagVersionId! },
    });
    const taskOrder = (version.data as { tasks: { task_id: string }[] }).tasks.map(
      (t) => t.task_id,
    );
    expect(run.taskInstances.map((ti) => ti.id[14])).toEqual(taskOrder.map(() => '7'));
    expect(run.taskInstances.map((ti) => ti.taskId)).toEqual(taskOrder);
  });

  it('gives a scheduled example its next run, which the processor sets only for a DAG it has not seen', async () => {
    // The seed ran at 12:00 (first test): the hourly example runs the hour that just ended, once
    // it has ended. With next_dagrun_* left null the scheduler never ran it.
    const hourly = await db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'example_hourly' } });
    expect(hourly.nextDagrunDataIntervalStart?.toISOString()).toBe('2026-11-21T11:00:00.000Z');
    expect(hourly.nextDagrunCreateAfter?.toISOString()).toBe('2026-11-21T12:00:00.000Z');
    const manual = await db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'example_etl' } });
    expect(manual.nextDagrunCreateAfter).toBeNull();
  });

  it('is idempotent: a second seed writes nothing', async () => {
    const before = await db.prisma.dagRun.count();
    expect(await seed(db.prisma, silentLogger, { logsRoot })).toEqual([]);
    expect(await db.prisma.dagRun.count()).toBe(before);
  });

  it('gives each DAG its relative_fileloc relative to DAGS_FOLDER, as the processor does', async () => {
    const dag = await db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'example_etl' } });
    expect(dag.relativeFileloc).toBe('example_etl.json');
  });

  it('writes nothing on an empty database when DAGS_FOLDER is a folder of the user', async () => {
    const empty = await createTestDatabase();
    try {
      const folder = await mkdtemp(join(tmpdir(), 'dagbag-user-dags-'));
      await writeFile(
        join(folder, 'mine.json'),
        JSON.stringify({ dag_id: 'mine', tasks: [{ task_id: 'only', operator: 'empty' }] }),
      );
      expect(isExampleDagsFolder(folder)).toBe(false);
      const settings = defaultDatabaseSettings();
      const written = await seedIfEmpty({ url: empty.url, settings }, silentLogger, {
        logsRoot,
        dagsFolder: folder,
      });
      expect(written).toEqual([]);
      expect(await empty.prisma.dagVersion.count()).toBe(0);
      expect(await empty.prisma.dagRun.count()).toBe(0);
    } finally {
      await empty.drop();
    }
  });

  it('recognises dags/ however it is spelt', () => {
    expect(isExampleDagsFolder(join(exampleDagsFolder(), '..', 'dags', '.'))).toBe(true);
  });
});
