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
  it('loads a version with its document, hash and exact serialized size in one query', async () => {
    const row = await createDagVersionLoader(db.prisma).loadVersion(v1);
    expect(row).toMatchObject({ versionId: v1, dagId: 'etl', versionNumber: 1, dagHash: 'hash1' });
    expect(row?.data).toEqual({ dag_id: 'etl', tasks: [{ task_id: 'é' }] });
    expect(row?.serializedBytes).toBe(
      Buffer.byteLength('{"tasks": [{"task_id": "é"}], "dag_id": "etl"}'),
    );
  });

  it('answers null for unknown and malformed ids without a database error', async () => {
    const loader = createDagVersionLoader(db.prisma);
    expect(await loader.loadVersion('00000000-0000-0000-0000-000000000000')).toBeNull();
    expect(await loader.loadVersion("1' OR '1'='1")).toBeNull();
    expect(await loader.readHash('nope')).toBeNull();
  });

  it('finds the latest version, a run version and the hash', async () => {
    const loader = createDagVersionLoader(db.prisma);
    expect(await loader.latestVersionId('etl')).toBe(v2);
    expect(await loader.versionIdForRun('etl', 'old')).toBe(v1);
    expect(await loader.versionIdForRun('etl', 'nope')).toBeNull();
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
    expect(await loader.versionIdForRun('etl', 'live')).toBe(v2);
    expect(await loader.versionIdForRun('etl', 'orphan')).toBe(v2);
  });

  it('lists as active only the versions of unfinished runs', async () => {
    expect(await createDagVersionLoader(db.prisma).activeVersionIds()).toEqual([v2]);
  });
});
