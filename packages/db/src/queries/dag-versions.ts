/**
 * Reads of DAG versions for the DAG cache: the loader `packages/dagbag` is given (it knows no SQL).
 * Every method is one query.
 */
import type { DagVersionLoader, DagVersionRow } from '@dagbag/dagbag';
import type { PrismaClient } from '../client.ts';

/** Task instance states that still need the DAG (state null = not yet scheduled). */
export const UNFINISHED_TI_STATES = ['scheduled', 'queued', 'running', 'up_for_retry'] as const;
export const UNFINISHED_RUN_STATES = ['queued', 'running'] as const;

interface VersionRecord {
  id: string;
  dag_id: string;
  version_number: number;
  created_at: Date;
  dag_hash: string;
  data_text: string;
}

/** The loader `DagBag` is given; typed by dagbag's interface, so the two cannot drift apart. */
export function createDagVersionLoader(prisma: PrismaClient): DagVersionLoader {
  return {
    async loadVersion(versionId: string): Promise<DagVersionRow | null> {
      if (!isUuid(versionId)) return null;
      // data as text: we parse it once ourselves and learn its exact size for the cache's weight.
      const rows = await prisma.$queryRaw<VersionRecord[]>`
        SELECT v.id::text AS id, v.dag_id, v.version_number, v.created_at, s.dag_hash, s.data::text AS data_text
        FROM dag_version v JOIN serialized_dag s ON s.dag_version_id = v.id
        WHERE v.id = ${versionId}::uuid`;
      const row = rows[0];
      if (!row) return null;
      return {
        versionId: row.id,
        dagId: row.dag_id,
        versionNumber: row.version_number,
        dagHash: row.dag_hash,
        data: JSON.parse(row.data_text),
        serializedBytes: Buffer.byteLength(row.data_text),
        createdAt: row.created_at,
      };
    },

    async readHash(versionId: string): Promise<string | null> {
      if (!isUuid(versionId)) return null;
      const row = await prisma.serializedDag.findUnique({
        where: { dagVersionId: versionId },
        select: { dagHash: true },
      });
      return row?.dagHash ?? null;
    },

    /** After a notification gap the DAG cache revalidates every resident version at once. */
    async readHashes(versionIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
      const ids = versionIds.filter(isUuid);
      if (ids.length === 0) return new Map();
      const rows = await prisma.$queryRaw<{ id: string; dag_hash: string }[]>`
        SELECT dag_version_id::text AS id, dag_hash FROM serialized_dag
        WHERE dag_version_id = ANY(${ids}::uuid[])`;
      return new Map(rows.map((row) => [row.id, row.dag_hash]));
    },

    /**
     * The version a run uses now: the one the scheduler moved it to when its DAG changed, else the
     * one it was created with, else (a run whose version was deleted) the DAG's latest, as
     * Airflow's DBDagBag does. Null when the run does not exist.
     */
    async versionIdForRun(dagId: string, runId: string): Promise<string | null> {
      const rows = await prisma.$queryRaw<{ id: string | null }[]>`
        SELECT COALESCE(r.current_dag_version_id, r.created_dag_version_id,
                        (SELECT v.id FROM dag_version v WHERE v.dag_id = r.dag_id
                         ORDER BY v.version_number DESC LIMIT 1))::text AS id
        FROM dag_run r WHERE r.dag_id = ${dagId} AND r.run_id = ${runId}`;
      return rows[0]?.id ?? null;
    },

    async latestVersionId(dagId: string): Promise<string | null> {
      const version = await prisma.dagVersion.findFirst({
        where: { dagId },
        orderBy: { versionNumber: 'desc' },
        select: { id: true },
      });
      return version?.id ?? null;
    },

    /** Versions still needed: those of unfinished runs and of their unfinished task instances. */
    async activeVersionIds(): Promise<string[]> {
      const rows = await prisma.$queryRaw<{ id: string }[]>`
        SELECT COALESCE(current_dag_version_id, created_dag_version_id)::text AS id FROM dag_run
        WHERE state IN ('queued', 'running')
          AND COALESCE(current_dag_version_id, created_dag_version_id) IS NOT NULL
        UNION
        SELECT ti.dag_version_id::text FROM task_instance ti
        WHERE ti.dag_version_id IS NOT NULL
          AND (ti.state IS NULL OR ti.state IN ('scheduled', 'queued', 'running', 'up_for_retry'))`;
      return rows.map((row) => row.id);
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arrive from URLs; a non-uuid would be a database error, and it simply does not exist. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
