import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/index.ts';
import { createDagVersionLoader } from './dag-versions.ts';

let db: TestDatabase;
let v1: string;
let v2: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const { prisma } = db;
  await prisma.dag.create({ data: { dagId: 'etl' } });
  const mk = async (versionNumber: number, data: object) =>
    (
      await prisma.dagVersion.create({
        data: {
          dagId: 'etl',
          versionNumber,
          serializedDag: { create: { dagId: 'etl', data, dagHash: `hash${versionNumber}` } },
        },
      })
    ).id;
  v1 = await mk(1, { dag_id: 'etl', tasks: [{ task_id: 'é' }] });
  v2 = await mk(2, { dag_id: 'etl', tasks: [] });
  await prisma.dagRun.create({
    data: {
      dagId: 'etl',
      runId: 'old',
      state: 'success',
      runType: 'manual',
      createdDagVersionId: v1,
    },
  });
  await prisma.dagRun.create({
    data: {
      dagId: 'etl',
      runId: 'live',
      state: 'running',
      runType: 'manual',
      createdDagVersionId: v1,
      currentDagVersionId: v2,
    },
  });
  await prisma.dagRun.create({
    data: { dagId: 'etl', runId: 'orphan', state: 'success', runType: 'manual' },
  });
});

afterAll(() => db.drop());

describe('the DAG version loader', () => {
  it('loads versions with their document as text and their hash, several ids in one query', async () => {
    const rows = await createDagVersionLoader(db.prisma).loadVersions([v1, v2]);
    const row = rows.find((r) => r.versionId === v1);
    expect(rows).toHaveLength(2);
    expect(row).toMatchObject({ versionId: v1, dagId: 'etl', versionNumber: 1, dagHash: 'hash1' });
    expect(row?.dataText).toBe('{"tasks": [{"task_id": "é"}], "dag_id": "etl"}');
  });

  it('leaves out unknown and malformed ids without a database error', async () => {
    const loader = createDagVersionLoader(db.prisma);
    expect(await loader.loadVersions(['00000000-0000-0000-0000-000000000000'])).toEqual([]);
    expect(await loader.loadVersions(["1' OR '1'='1"])).toEqual([]);
    expect(await loader.readHash('nope')).toBeNull();
  });

  it('loads versions by dag_id and version number, several in one query', async () => {
    const loader = createDagVersionLoader(db.prisma);
    const rows = await loader.loadVersionsByNumber([
      { dagId: 'etl', versionNumber: 2 },
      { dagId: 'etl', versionNumber: 9 },
      { dagId: 'nope', versionNumber: 1 },
    ]);
    expect(rows.map((r) => r.versionId)).toEqual([v2]);
  });

  it('resolves the latest version and a run version with the row, the document only when not known', async () => {
    const loader = createDagVersionLoader(db.prisma);
    expect(await loader.resolveVersion({ dagId: 'etl', latest: true }, [])).toMatchObject({
      versionId: v2,
      dataText: '{"tasks": [], "dag_id": "etl"}',
    });
    expect(await loader.resolveVersion({ dagId: 'etl', runId: 'old' }, [v1])).toMatchObject({
      versionId: v1,
      dagHash: 'hash1',
      dataText: null,
    });
    expect(await loader.resolveVersion({ dagId: 'etl', runId: 'nope' }, [])).toBeNull();
    expect(await loader.resolveVersion({ dagId: 'nope', latest: true }, [])).toBeNull();
    expect(await loader.readHash(v2)).toBe('hash2');
  });

  it('reads the hashes of many versions in one call, leaving out unknown and malformed ids', async () => {
    const hashes = await createDagVersionLoader(db.prisma).readHashes([
      v1,
      v2,
      '00000000-0000-0000-0000-000000000000',
      'nope',
    ]);
    expect(Object.fromEntries(hashes)).toEqual({ [v1]: 'hash1', [v2]: 'hash2' });
  });

  it('gives a run the version it was moved to, else the one it was created with, else the latest', async () => {
    const loader = createDagVersionLoader(db.prisma);
    expect((await loader.resolveVersion({ dagId: 'etl', runId: 'live' }, []))?.versionId).toBe(v2);
    expect((await loader.resolveVersion({ dagId: 'etl', runId: 'orphan' }, []))?.versionId).toBe(
      v2,
    );
  });

  it('lists as active only the versions of unfinished runs, and loads their rows in one query', async () => {
    const loader = createDagVersionLoader(db.prisma);
    expect(await loader.activeVersionIds()).toEqual([v2]);
    expect((await loader.loadActiveVersions()).map((r) => r.versionId)).toEqual([v2]);
  });
});
