/**
 * Incident 2: 600 running runs on 600 distinct versions, walked round-robin 20 runs per loop by
 * the real scheduling loop. Loader calls per loop and loop duration for a plain LRU capped at 512,
 * for our scheduler policy capped at 512 (TinyLFU admission), and for our default (no entry cap).
 */
import { DagBag, type DagCacheSettings } from '@dagbag/dagbag';
import { makeDagDocument } from '@dagbag/dagbag/testing';
import { analyzeSchedulerTables, createDagVersionLoader, type PrismaClient } from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';
import { SchedulingLoop } from '../src/loop/scheduling-loop.ts';

const RUNS = 600;
const PER_LOOP = 20;
const LOOPS_PER_SWEEP = RUNS / PER_LOOP;

export interface Incident2Row {
  policy: string;
  loaderCallsPerLoop: number;
  loopMs: number;
  hitRatio: number;
  entries: number;
}

export async function seedIncident2(prisma: PrismaClient): Promise<void> {
  for (let i = 0; i < RUNS; i++) {
    const document = makeDagDocument({
      taskCount: 10,
      seed: 1000 + i,
      dagId: `dag_${String(i).padStart(3, '0')}`,
    });
    await prisma.dag.create({ data: { dagId: document.dag_id } });
    const version = await prisma.dagVersion.create({
      data: {
        dagId: document.dag_id,
        versionNumber: 1,
        serializedDag: {
          create: { dagId: document.dag_id, data: document, dagHash: `h${i}` },
        },
      },
    });
    await prisma.dagRun.create({
      data: {
        dagId: document.dag_id,
        runId: 'r1',
        state: 'queued',
        runType: 'manual',
        createdDagVersionId: version.id,
      },
    });
  }
}

export async function runIncident2(
  prisma: PrismaClient,
  policy: string,
  cache: { settings: Partial<DagCacheSettings>; admission: boolean },
  sweeps = 3,
): Promise<Incident2Row> {
  const loader = createDagVersionLoader(prisma);
  let loads = 0;
  const counting = {
    ...loader,
    loadVersions: (ids: readonly string[]) => ((loads += ids.length), loader.loadVersions(ids)),
  };
  const dagBag = new DagBag({
    role: 'scheduler',
    loader: counting,
    settings: cache.settings,
    admission: cache.admission,
    logger: silentLogger,
  });
  const loop = new SchedulingLoop({
    prisma,
    dagBag,
    executor: undefined,
    jobId: 0,
    hostname: 'bench',
    maxDagRunsPerLoop: PER_LOOP,
    heartbeatTimeoutSeconds: 3600,
    logger: silentLogger,
  });
  // Start every run (first time only) and warm the cache with one full sweep.
  while ((await prisma.dagRun.count({ where: { state: 'queued' } })) > 0)
    await loop.startQueuedRuns();
  await analyzeSchedulerTables(prisma);
  for (let i = 0; i < LOOPS_PER_SWEEP; i++) await loop.runOnce();
  const before = dagBag.stats();
  loads = 0;
  const started = performance.now();
  const loops = sweeps * LOOPS_PER_SWEEP;
  for (let i = 0; i < loops; i++) await loop.runOnce();
  const ms = performance.now() - started;
  const after = dagBag.stats();
  const lookups = after.hits - before.hits + (after.misses.loaded - before.misses.loaded);
  dagBag.close();
  return {
    policy,
    loaderCallsPerLoop: loads / loops,
    loopMs: ms / loops,
    hitRatio: lookups === 0 ? 0 : (after.hits - before.hits) / lookups,
    entries: after.entries,
  };
}
