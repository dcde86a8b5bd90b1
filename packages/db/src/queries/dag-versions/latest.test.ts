import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Prisma } from '../../generated/prisma/client.ts';
import { createTestDatabase, type TestDatabase } from '../../testing/index.ts';
import { latestVersionIdSql, runVersionIdSql } from './latest.ts';

let db: TestDatabase;
const ids: Record<string, string> = {};

async function scalar(sql: Prisma.Sql): Promise<string | null> {
  const rows = await db.prisma.$queryRaw<{ id: string | null }[]>`SELECT ${sql}::text AS id`;
  return rows[0]!.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.dag.create({ data: { dagId: 'd' } });
  for (const versionNumber of [1, 3, 2]) {
    const version = await db.prisma.dagVersion.create({ data: { dagId: 'd', versionNumber } });
    ids[versionNumber] = version.id;
  }
});

afterAll(() => db.drop());

describe('the latest version of a DAG', () => {
  it('is the one with the highest version_number, not the newest row', async () => {
    expect(await scalar(latestVersionIdSql({ value: 'd' }))).toBe(ids[3]);
  });

  it('is null for a DAG without versions', async () => {
    expect(await scalar(latestVersionIdSql({ value: 'nothing' }))).toBeNull();
  });

  it("is what a run uses when it has no version of its own (Airflow's DBDagBag)", async () => {
    await db.prisma.dagRun.createMany({
      data: [
        {
          dagId: 'd',
          runId: 'own',
          state: 'running',
          runType: 'manual',
          createdDagVersionId: ids[1],
        },
        { dagId: 'd', runId: 'orphan', state: 'running', runType: 'manual' },
      ],
    });
    const versionOf = (runId: string) =>
      db.prisma.$queryRaw<{ id: string }[]>`
        SELECT ${runVersionIdSql('r')}::text AS id FROM dag_run r
        WHERE r.dag_id = 'd' AND r.run_id = ${runId}`;
    expect((await versionOf('own'))[0]!.id).toBe(ids[1]);
    expect((await versionOf('orphan'))[0]!.id).toBe(ids[3]);
  });
});
