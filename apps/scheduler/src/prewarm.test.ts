import { dagHash } from '@dagbag/dagbag';
import { makeDagDocument } from '@dagbag/dagbag/testing';
import { createRecordingPrismaClient } from '@dagbag/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './testing/harness.ts';

let h: Harness;
const RUNS = 600;

beforeAll(async () => {
  h = await createHarness();
  // 600 DAGs, one version each, one running run on each version: the set a restart meets.
  const documents = Array.from({ length: RUNS }, (_, i) =>
    makeDagDocument({ taskCount: 5, seed: i + 1, dagId: `warm_${i}`, schedule: null }),
  );
  await h.db.prisma.$executeRaw`
    INSERT INTO dag (dag_id, fileloc, relative_fileloc)
    SELECT d, '/dags/' || d || '.json', d || '.json' FROM unnest(${documents.map((d) => d.dag_id)}::text[]) d`;
  await h.db.prisma.$executeRaw`
    WITH v AS (
      INSERT INTO dag_version (dag_id, version_number)
      SELECT d, 1 FROM unnest(${documents.map((d) => d.dag_id)}::text[]) d RETURNING id, dag_id
    )
    INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash)
    SELECT v.id, v.dag_id, doc.data, doc.hash FROM v
    JOIN unnest(${documents.map((d) => d.dag_id)}::text[], ${documents.map((d) => JSON.stringify(d))}::jsonb[],
                ${documents.map((d) => dagHash(d))}::text[]) AS doc(dag_id, data, hash)
      ON doc.dag_id = v.dag_id`;
  await h.db.prisma.$executeRaw`
    INSERT INTO dag_run (dag_id, run_id, state, run_type, created_dag_version_id, conf, triggered_by, start_date)
    SELECT v.dag_id, 'manual__restart', 'running', 'manual', v.id, '{}'::jsonb, 'rest_api', now()
    FROM dag_version v`;
});

afterAll(() => h.close());

describe('scheduler start', () => {
  it('a restarted scheduler with 600 running runs loads its working set in one query', async () => {
    const recording = createRecordingPrismaClient(h.db.url);
    try {
      const scheduler = await h.scheduler({ prisma: recording.prisma, processDagFiles: false });
      const loads = recording.statements.filter((sql) => /serialized_dag/.test(sql));
      expect(loads, loads.join('\n---\n')).toHaveLength(1);
      expect(scheduler.dagBag.stats()).toMatchObject({
        entries: RUNS,
        loads: RUNS,
        load_queries: 1,
      });
      // The first loop then meets its runs' versions warm: no miss, no further load query.
      await scheduler.runLoopOnce();
      expect(scheduler.dagBag.stats()).toMatchObject({ misses: { loaded: 0 }, load_queries: 1 });
      expect(scheduler.dagBag.stats().hits).toBeGreaterThan(0);
      await scheduler.stop(0);
    } finally {
      await recording.prisma.$disconnect();
    }
  });
});
