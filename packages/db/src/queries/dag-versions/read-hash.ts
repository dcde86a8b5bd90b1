import type { PrismaClient } from '../../client.ts';
import { isUuid } from './row.ts';

/** The current dag_hash of a version (the cache's revalidation); null if the row is gone. */
export async function readHash(prisma: PrismaClient, versionId: string): Promise<string | null> {
  if (!isUuid(versionId)) return null;
  const row = await prisma.serializedDag.findUnique({
    where: { dagVersionId: versionId },
    select: { dagHash: true },
  });
  return row?.dagHash ?? null;
}

/** The current dag_hash of each version in one query (after a notification gap); gone = absent. */
export async function readHashes(
  prisma: PrismaClient,
  versionIds: readonly string[],
): Promise<ReadonlyMap<string, string>> {
  const ids = versionIds.filter(isUuid);
  if (ids.length === 0) return new Map();
  const rows = await prisma.$queryRaw<{ id: string; dag_hash: string }[]>`
    SELECT dag_version_id::text AS id, dag_hash FROM serialized_dag
    WHERE dag_version_id = ANY(${ids}::uuid[])`;
  return new Map(rows.map((row) => [row.id, row.dag_hash]));
}
