/** The benchmarks' DAG version loader that answers without a database. */
import type { DagVersionLoader, DagVersionRow } from '../src/dagbag.ts';
import { dagDocumentSchema, dagHash } from '../src/document.ts';

const tiny = dagDocumentSchema.parse({
  dag_id: 'bench',
  tasks: [{ task_id: 'only', operator: 'empty' }],
});
const tinyHash = dagHash(tiny);
const tinyText = JSON.stringify(tiny);

/** Answers every id with the same tiny document of a chosen serialized size: misses stay cheap. */
export function syntheticLoader(serializedBytes: number): DagVersionLoader {
  const row = (versionId: string): DagVersionRow => ({
    versionId,
    dagId: 'bench',
    versionNumber: 1,
    dagHash: tinyHash,
    dataText: tinyText,
    serializedBytes,
    createdAt: new Date(0),
  });
  return {
    async loadVersions(versionIds) {
      return versionIds.map(row);
    },
    async loadVersionsByNumber() {
      return [];
    },
    async resolveVersion() {
      return null;
    },
    async readHash() {
      return tinyHash;
    },
    async readHashes(versionIds: readonly string[]) {
      return new Map(versionIds.map((id) => [id, tinyHash]));
    },
    async activeVersionIds() {
      return [];
    },
    async loadActiveVersions() {
      return [];
    },
  };
}
