import { LRUCache } from 'lru-cache';

/**
 * (dag_id, version_number) -> dag_version.id, remembered so that a warm structure request is
 * answered from memory alone: the number of a version never changes once created. Bounded by
 * entry count (~100 bytes each, so 10,000 entries ≈ 1 MB, negligible next to the DAG cache).
 * A remembered id that no longer resolves (the DAG was deleted and re-created) is forgotten by
 * the caller and looked up again.
 */
export class VersionDirectory {
  private readonly ids: LRUCache<string, string>;

  constructor(maxEntries = 10_000) {
    this.ids = new LRUCache({ max: maxEntries });
  }

  private static key(dagId: string, versionNumber: number): string {
    return `${versionNumber}\u0000${dagId}`;
  }

  get(dagId: string, versionNumber: number): string | undefined {
    return this.ids.get(VersionDirectory.key(dagId, versionNumber));
  }

  remember(dagId: string, versionNumber: number, versionId: string): void {
    this.ids.set(VersionDirectory.key(dagId, versionNumber), versionId);
  }

  forget(dagId: string, versionNumber: number): void {
    this.ids.delete(VersionDirectory.key(dagId, versionNumber));
  }

  get size(): number {
    return this.ids.size;
  }
}
