/** The benchmarks' DAG version loader that answers without a database, and trace replay over it. */
import { DagBag, type DagVersionLoader, type DagVersionRow } from '../src/dagbag.ts';
import type { CacheRole, DagCacheSettings } from '../src/settings.ts';
import { ManualClock } from '../src/testing.ts';
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

/** How the cache admits: adaptive window, fixed window, or plain LRU. */
export type Policy = 'adaptive' | 'fixed' | 'lru';

/**
 * Replays a trace through a DagBag; returns the hit ratio over the accesses from `measureFrom` on
 * (and sets `hits[i]` to 1 at each of those that hit, if given).
 */
export async function replay(
  trace: Uint32Array,
  measureFrom: number,
  role: CacheRole,
  settings: DagCacheSettings,
  policy: Policy,
  serializedBytes: number,
  hits?: Uint8Array,
): Promise<number> {
  const ids = new Map<number, string>();
  const idOf = (n: number) => {
    let id = ids.get(n);
    if (id === undefined) ids.set(n, (id = `v${n}`));
    return id;
  };
  const bag = new DagBag({
    role,
    loader: syntheticLoader(serializedBytes),
    clock: new ManualClock(),
    settings,
    admission: policy !== 'lru',
    adaptiveWindow: policy === 'adaptive',
  });
  let hitCount = 0;
  for (let i = 0; i < trace.length; i++) {
    const id = idOf(trace[i]!);
    if (bag.getIfCached(id) !== undefined) {
      if (i >= measureFrom) {
        hitCount++;
        if (hits) hits[i] = 1;
      }
    } else {
      await bag.get(id);
    }
  }
  bag.close();
  return hitCount / (trace.length - measureFrom);
}
