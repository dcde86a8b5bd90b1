/** Writes of the demo history (`pnpm db:seed`, and `pnpm dev` on an empty database). */
import type { PrismaClient } from '../client.ts';
import type { DagFileFields } from './dag-files.ts';
import type { NextDagrun } from './next-dagrun.ts';
import { newTaskInstanceId } from './run-task-instances.ts';

export interface DemoTaskInstance {
  taskId: string;
  operator: string;
  state: 'success' | 'failed' | 'upstream_failed' | 'skipped';
  startDate: Date;
  endDate: Date;
}

export interface DemoRun {
  runId: string;
  state: 'success' | 'failed';
  runType: 'manual' | 'scheduled';
  logicalDate: Date;
  startDate: Date;
  endDate: Date;
  taskInstances: DemoTaskInstance[];
}

export interface DemoVersion {
  data: object;
  dagHash: string;
  createdAt: Date;
  runs: DemoRun[];
}

/** A DAG's `dag` row as the processor would write it from its file, plus its demo history. */
export interface DemoDag extends DagFileFields {
  /** Oldest first; the last one is the DAG file as it is now. */
  versions: DemoVersion[];
  /**
   * The DAG's first scheduled run, as the processor sets it for a DAG it sees first (null for a
   * manual-only DAG): the processor leaves `next_dagrun_*` alone for a DAG it already knows.
   */
  nextDagrun: NextDagrun | null;
}

/**
 * Writes each DAG's history in one transaction, unless the DAG already has versions (then it is
 * left alone: the seed is idempotent and never touches real history). Returns the DAG ids written.
 */
export async function writeDemoHistory(prisma: PrismaClient, dags: DemoDag[]): Promise<string[]> {
  const written: string[] = [];
  for (const dag of dags) {
    const done = await prisma.$transaction(async (tx) => {
      if ((await tx.dagVersion.count({ where: { dagId: dag.dagId } })) > 0) return false;
      await tx.dag.upsert({
        where: { dagId: dag.dagId },
        update: {},
        create: {
          dagId: dag.dagId,
          fileloc: dag.fileloc,
          relativeFileloc: dag.relativeFileloc,
          description: dag.description,
          timetableSummary: dag.timetableSummary,
          tags: dag.tags,
          maxActiveRuns: dag.maxActiveRuns,
          maxActiveTasks: dag.maxActiveTasks,
          catchup: dag.catchup,
          startDate: dag.startDate,
          timezone: dag.timezone,
          nextDagrunLogicalDate: dag.nextDagrun?.logicalDate ?? null,
          nextDagrunDataIntervalStart: dag.nextDagrun?.dataIntervalStart ?? null,
          nextDagrunDataIntervalEnd: dag.nextDagrun?.dataIntervalEnd ?? null,
          nextDagrunCreateAfter: dag.nextDagrun?.createAfter ?? null,
          lastParsedTime: new Date(),
        },
      });
      for (const [index, version] of dag.versions.entries()) {
        const created = await tx.dagVersion.create({
          data: {
            dagId: dag.dagId,
            versionNumber: index + 1,
            createdAt: version.createdAt,
            serializedDag: {
              create: {
                dagId: dag.dagId,
                data: version.data,
                dagHash: version.dagHash,
                createdAt: version.createdAt,
              },
            },
          },
        });
        for (const run of version.runs) {
          await tx.dagRun.create({
            data: {
              dagId: dag.dagId,
              runId: run.runId,
              state: run.state,
              runType: run.runType,
              logicalDate: run.logicalDate,
              runAfter: run.logicalDate,
              queuedAt: run.startDate,
              startDate: run.startDate,
              endDate: run.endDate,
              triggeredBy: run.runType === 'manual' ? 'rest_api' : 'timetable',
              createdDagVersionId: created.id,
              lastSchedulingDecision: run.endDate,
            },
          });
          await tx.taskInstance.createMany({
            data: run.taskInstances.map((ti) => ({
              id: newTaskInstanceId(),
              dagId: dag.dagId,
              runId: run.runId,
              taskId: ti.taskId,
              dagVersionId: created.id,
              state: ti.state,
              operator: ti.operator,
              tryNumber: ti.state === 'success' || ti.state === 'failed' ? 1 : 0,
              startDate: ti.state === 'success' || ti.state === 'failed' ? ti.startDate : null,
              endDate: ti.endDate,
              duration:
                ti.state === 'success' || ti.state === 'failed'
                  ? (ti.endDate.getTime() - ti.startDate.getTime()) / 1000
                  : null,
              hostname: 'seed',
            })),
          });
        }
      }
      return true;
    });
    if (done) written.push(dag.dagId);
  }
  return written;
}

export async function hasAnyDagVersion(prisma: PrismaClient): Promise<boolean> {
  return (await prisma.dagVersion.findFirst({ select: { id: true } })) !== null;
}
