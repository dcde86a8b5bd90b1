/**
 * Reads of DAG versions for the DAG cache: the loader `packages/dagbag` is given (it knows no SQL).
 * Every method is one query, each in its own file under `dag-versions/`.
 */
import type { DagVersionLoader } from '@dagbag/dagbag';
import type { PrismaClient } from '../client.ts';
import { activeVersionIds, loadActiveVersions } from './dag-versions/active-versions.ts';
import { loadVersions } from './dag-versions/load-versions.ts';
import { loadVersionsByNumber } from './dag-versions/load-versions-by-number.ts';
import { readHash, readHashes } from './dag-versions/read-hash.ts';
import { resolveVersion } from './dag-versions/resolve-version.ts';

export { isUuid } from './dag-versions/row.ts';

/** The loader `DagBag` is given; typed by dagbag's interface, so the two cannot drift apart. */
export function createDagVersionLoader(prisma: PrismaClient): DagVersionLoader {
  return {
    loadVersions: (versionIds) => loadVersions(prisma, versionIds),
    loadVersionsByNumber: (refs) => loadVersionsByNumber(prisma, refs),
    resolveVersion: (ref, known) => resolveVersion(prisma, ref, known),
    readHash: (versionId) => readHash(prisma, versionId),
    readHashes: (versionIds) => readHashes(prisma, versionIds),
    activeVersionIds: () => activeVersionIds(prisma),
    loadActiveVersions: () => loadActiveVersions(prisma),
  };
}
