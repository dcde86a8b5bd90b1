import {
  metrics,
  type Attributes,
  type BatchObservableCallback,
  type Histogram,
  type Meter,
  type Observable,
} from '@opentelemetry/api';
import {
  CACHE_LIMIT_METRICS,
  CACHE_METRICS,
  EVICTION_REASONS,
  MISS_RESULTS,
  type EvictionReason,
  type MissResult,
} from '@dagbag/metrics';
import { silentLogger, type Logger } from '@dagbag/logger';
import { LRUCache } from 'lru-cache';
import { deserializeDag, type Dag } from './dag.ts';
import { FrequencySketch } from './sketch.ts';
import {
  defaultCacheSettings,
  validateCacheSettings,
  type CacheRole,
  type DagCacheSettings,
} from './settings.ts';
import { entryWeight, serializedSize } from './weight.ts';

/** One `dag_version` joined with its `serialized_dag`, as the loader reads it in one query. */
export interface DagVersionRow {
  versionId: string;
  dagId: string;
  versionNumber: number;
  dagHash: string;
  data: unknown;
  /** Size of `data` as stored (e.g. `octet_length(data::text)`); computed here if not positive. */
  serializedBytes: number;
  createdAt: Date;
}

/** The database side of the cache, injected so this package knows nothing about SQL. */
export interface DagVersionLoader {
  /** dag_version + serialized_dag in one query; null if there is no such version. */
  loadVersion(versionId: string): Promise<DagVersionRow | null>;
  /** The current dag_hash of a version; null if the row is gone. */
  readHash(versionId: string): Promise<string | null>;
  /** The current dag_hash of each version, in one query; versions that are gone are absent. */
  readHashes(versionIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  versionIdForRun(dagId: string, runId: string): Promise<string | null>;
  latestVersionId(dagId: string): Promise<string | null>;
  /** Versions referenced by unfinished runs or task instances (one cheap query). */
  activeVersionIds(): Promise<Iterable<string>>;
}

/** What the cache hands out. Shared by every caller: treat it as read-only (it is frozen). */
export interface DagVersionEntry {
  readonly versionId: string;
  readonly dagId: string;
  readonly versionNumber: number;
  readonly dagHash: string;
  readonly createdAt: Date;
  readonly dag: Dag;
  /** Estimated retained heap in bytes: serialized bytes times the measured factor. */
  readonly weight: number;
}

/** Milliseconds from a monotonic source; `performance` fits, tests pass a controlled clock. */
export interface Clock {
  now(): number;
}

export interface DagBagOptions {
  role: CacheRole;
  loader: DagVersionLoader;
  /**
   * Laid over the role's documented defaults (`defaultCacheSettings(role)`). The DagBag never reads
   * the environment: an app reads `cacheSettingsShape(role)` at start and passes
   * `cacheSettingsFrom(role, values)` here.
   */
  settings?: Partial<DagCacheSettings>;
  clock?: Clock;
  /** Defaults to the global MeterProvider's meter (a no-op until an SDK is registered). */
  meter?: Meter;
  logger?: Logger;
  /** Frequency-aware admission (TinyLFU); false gives plain LRU, for tests and benchmarks. */
  admission?: boolean;
}

/** Live figures; the JSON body of `GET /api/v2/monitor/dagbag`, hence snake_case. */
export interface DagBagStats {
  role: CacheRole;
  admission: 'tinylfu' | 'none';
  entries: number;
  weight_bytes: number;
  max_entries: number;
  max_bytes: number;
  ttl_seconds: number;
  revalidate_seconds: number;
  hits: number;
  misses: Record<MissResult, number>;
  evictions: Record<EvictionReason, number>;
  hit_ratio: number | null;
  loads: number;
  load_failures: number;
  in_flight: number;
  /** Lookups that joined a load another lookup had started. */
  coalesced: number;
  /** Hits answered by the negative cache (an id known not to exist). */
  negative_hits: number;
  negative_entries: number;
  hash_reads: number;
  /** Loaded versions the admission policy kept out (less popular than what they would displace). */
  admission_rejections: number;
  /** Loaded versions heavier than the whole byte cap, returned but never cached. */
  oversize_rejections: number;
  uncached_reads: number;
}

interface Slot {
  readonly entry: DagVersionEntry;
  /** FrequencySketch.hash of the version id, computed once so a hit does not hash a string. */
  readonly keyHash: number;
  /** Clock time of the last load or successful revalidation. */
  checkedAt: number;
  /** Admission order, so reconcile() can leave alone what was admitted after its query. */
  readonly seq: number;
}

interface Outcome {
  entry: DagVersionEntry | null;
  /** A revalidation that found the same hash: the lookup was answered from the cache. */
  fromCache: boolean;
}

interface Flight {
  promise: Promise<Outcome>;
  /** Whether the result may be admitted (false for listing reads until a get joins). */
  admit: boolean;
  /** Set by invalidate()/clear(): the result is returned to its waiters but not admitted. */
  cancelled: boolean;
}

/** Share of the caps given to the admission window (Caffeine's default). */
const WINDOW_FRACTION = 0.01;
/** Resolution of the hit path's revalidation clock (see `coarseNow`). */
const COARSE_CLOCK_MS = 100;
/**
 * A newcomer must beat the entry it displaces by more than this. Halving ages every count at one
 * moment, which leaves keys seen just before it one count ahead of keys seen just after; without
 * the margin that difference alone made a cyclic sweep churn (2x sweep: 0.80 of optimal, with
 * it 0.99), and Zipf gained too (0.86 -> 0.89 of optimal).
 */
const ADMISSION_MARGIN = 1;

/** The least recently used unexpired key of a segment. */
function leastRecent(segment: LRUCache<string, Slot>): string | undefined {
  return segment.rkeys().next().value ?? undefined;
}

/** lru-cache needs some bound; with the byte cap off, sizes are tracked against this one. */
const UNBOUNDED_BYTES = Number.MAX_SAFE_INTEGER;

/**
 * The DAG cache: version id -> deserialized DAG, bounded by entries, bytes and TTL, with
 * TinyLFU admission on top of lru-cache's recency order. See README.md for the policies.
 */
export class DagBag {
  readonly role: CacheRole;
  readonly settings: Readonly<DagCacheSettings>;
  private readonly loader: DagVersionLoader;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /**
   * W-TinyLFU (Einziger, Friedman, Manes 2017; Caffeine's policy) on two lru-caches: every
   * newcomer enters the small `window` (about 1% of the caps) unconditionally, so bursts of new
   * keys get a chance; when the caps are reached, the window's least recent entry competes with
   * `main`'s least recent entry and the one the frequency sketch rates lower is evicted. A sweep
   * or a crawl therefore churns the window only and cannot flush what `main` holds. Without
   * admission only `main` is used: plain LRU.
   */
  private readonly main: LRUCache<string, Slot>;
  private readonly window: LRUCache<string, Slot>;
  private readonly windowMaxEntries: number;
  private readonly windowMaxBytes: number;
  private readonly negative: LRUCache<string, true> | undefined;
  private readonly sketch: FrequencySketch | undefined;
  private readonly inflight = new Map<string, Flight>();
  private readonly revalidateMs: number;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private seq = 0;
  /** Why the next lru-cache 'delete' disposal happens (null: a move, not a removal). */
  private deleteReason: EvictionReason | null = 'invalidated';
  /** No entry can be stale before this clock time; lets admission skip a full stale scan. */
  private nextPossibleExpiry = 0;
  private purgeTimer: NodeJS.Timeout | undefined;
  /**
   * With the real clock, the hit path reads a time refreshed every COARSE_CLOCK_MS by a timer
   * instead of calling performance.now() (a third of a hit's cost). Revalidation can then only
   * happen later than due, never earlier. An injected clock is read exactly, for tests.
   */
  private coarseNow = 0;
  private readonly exactClock: boolean;
  private coarseTimer: NodeJS.Timeout | undefined;

  // Counters: plain fields, read by the observable instruments at collection time.
  private hits = 0;
  private missesLoaded = 0;
  private missesNotFound = 0;
  private readonly evictions: Record<EvictionReason, number> = {
    capacity: 0,
    bytes: 0,
    ttl: 0,
    inactive: 0,
    invalidated: 0,
  };
  private loads = 0;
  private loadFailures = 0;
  private coalesced = 0;
  private negativeHits = 0;
  private hashReads = 0;
  private admissionRejections = 0;
  private oversizeRejections = 0;
  private uncachedReads = 0;

  private readonly loadDuration: Histogram;
  private readonly meter: Meter;
  private readonly batchCallback: BatchObservableCallback;
  private readonly observables: Observable[];
  private readonly roleAttributes: Attributes;

  constructor(options: DagBagOptions) {
    if (options.role !== 'api' && options.role !== 'scheduler') {
      throw new TypeError(
        `DagBag role must be "api" or "scheduler"; got ${JSON.stringify(options.role)}`,
      );
    }
    if (typeof options.loader?.loadVersion !== 'function')
      throw new TypeError('DagBag loader must implement DagVersionLoader');
    this.role = options.role;
    this.loader = options.loader;
    this.settings = Object.freeze(
      validateCacheSettings({ ...defaultCacheSettings(options.role), ...options.settings }),
    );
    this.clock = options.clock ?? performance;
    this.exactClock = options.clock !== undefined;
    this.logger = options.logger ?? silentLogger;
    this.revalidateMs = this.settings.revalidateSeconds * 1000;
    this.ttlMs = this.settings.ttlSeconds * 1000;
    this.maxEntries = this.settings.maxEntries;
    this.maxBytes = this.settings.maxBytes;

    const dispose = (_slot: Slot, _key: string, reason: LRUCache.DisposeReason) =>
      this.onDispose(reason);
    this.main = new LRUCache<string, Slot>({
      ...lruOptionsFor<Slot>(this.settings, options.clock),
      dispose,
    });
    // The window is bounded by enforceCaps() alone: lru-cache must never evict from it on its own.
    this.window = new LRUCache<string, Slot>({
      ...lruOptionsFor<Slot>({ ...this.settings, maxEntries: 0, maxBytes: 0 }, options.clock),
      dispose,
    });
    const admission = options.admission !== false;
    this.windowMaxEntries =
      admission && this.maxEntries > 0
        ? Math.max(1, Math.floor(this.maxEntries * WINDOW_FRACTION))
        : 0;
    this.windowMaxBytes =
      admission && this.maxBytes > 0 ? Math.floor(this.maxBytes * WINDOW_FRACTION) : 0;
    if (admission) this.sketch = new FrequencySketch(expectedEntries(this.settings));
    this.negative =
      this.settings.negativeTtlSeconds > 0
        ? new LRUCache<string, true>({
            max: this.settings.maxNegativeEntries,
            ttl: this.settings.negativeTtlSeconds * 1000,
            ...(options.clock ? { perf: options.clock, ttlResolution: 0 } : {}),
          })
        : undefined;

    this.roleAttributes = { 'dagbag.role': this.role };
    this.meter = options.meter ?? metrics.getMeter('@dagbag/dagbag');
    ({
      callback: this.batchCallback,
      observables: this.observables,
      loadDuration: this.loadDuration,
    } = this.instrument(this.meter));

    if (this.revalidateMs > 0 && !this.exactClock) {
      this.coarseNow = this.clock.now();
      this.coarseTimer = setInterval(() => {
        this.coarseNow = this.clock.now();
      }, COARSE_CLOCK_MS);
      this.coarseTimer.unref();
    }
    if (this.ttlMs > 0 && options.clock === undefined) {
      // Idle entries are only noticed when touched; a sweep keeps entries and weight honest.
      this.purgeTimer = setInterval(() => this.purgeExpired(), Math.min(this.ttlMs, 60_000));
      this.purgeTimer.unref();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  /**
   * The synchronous hit path: the entry if it is resident and needs no revalidation, else
   * undefined (then call `get`). Counts a hit; never touches the loader.
   */
  getIfCached(versionId: string): DagVersionEntry | undefined {
    const slot = this.main.get(versionId) ?? this.window.get(versionId);
    if (slot === undefined) return undefined;
    if (this.revalidateMs > 0 && this.hitTime() - slot.checkedAt >= this.revalidateMs)
      return undefined;
    this.hits++;
    if (this.sketch !== undefined) this.sketch.increment(slot.keyHash);
    return slot.entry;
  }

  /** The version, from the cache or loaded (and admitted if the policy agrees); null if unknown. */
  get(versionId: string): Promise<DagVersionEntry | null> {
    const slot = this.main.get(versionId) ?? this.window.get(versionId);
    if (slot !== undefined) {
      if (this.revalidateMs === 0 || this.hitTime() - slot.checkedAt < this.revalidateMs) {
        this.hits++;
        if (this.sketch !== undefined) this.sketch.increment(slot.keyHash);
        return Promise.resolve(slot.entry);
      }
      return this.revalidate(versionId, slot);
    }
    return this.miss(versionId);
  }

  /** The version a run was created with (one id lookup through the loader, then the cache). */
  async getForRun(dagId: string, runId: string): Promise<DagVersionEntry | null> {
    const versionId = await this.loader.versionIdForRun(dagId, runId);
    return versionId === null ? null : this.get(versionId);
  }

  /** The latest version of a DAG (one id lookup through the loader, then the cache). */
  async getLatest(dagId: string): Promise<DagVersionEntry | null> {
    const versionId = await this.loader.latestVersionId(dagId);
    return versionId === null ? null : this.get(versionId);
  }

  /**
   * For listing paths: answers from the cache when resident and fresh, without touching recency,
   * frequency or the hit/miss counters; otherwise loads without admitting, so a listing walk
   * never fills (or reorders) the cache.
   */
  async readUncached(versionId: string): Promise<DagVersionEntry | null> {
    this.uncachedReads++;
    const slot = this.peekSlot(versionId, false);
    if (
      slot !== undefined &&
      (this.revalidateMs === 0 || this.clock.now() - slot.checkedAt < this.revalidateMs)
    ) {
      return slot.entry;
    }
    if (slot === undefined && this.negative?.peek(versionId) === true) return null;
    let flight = this.inflight.get(versionId);
    if (flight === undefined) flight = this.startLoad(versionId, false);
    return (await flight.promise).entry;
  }

  private hitTime(): number {
    return this.exactClock ? this.clock.now() : this.coarseNow;
  }

  private peekSlot(versionId: string, allowStale: boolean): Slot | undefined {
    return this.main.peek(versionId, { allowStale }) ?? this.window.peek(versionId, { allowStale });
  }

  private async miss(versionId: string): Promise<DagVersionEntry | null> {
    const keyHash = FrequencySketch.hash(versionId);
    if (this.sketch !== undefined) this.sketch.increment(keyHash);
    if (this.negative !== undefined && this.negative.get(versionId) === true) {
      this.hits++;
      this.negativeHits++;
      return null;
    }
    let flight = this.inflight.get(versionId);
    if (flight !== undefined) {
      this.coalesced++;
      flight.admit = true;
    } else {
      flight = this.startLoad(versionId, true, keyHash);
    }
    return this.count(await flight.promise);
  }

  private revalidate(versionId: string, slot: Slot): Promise<DagVersionEntry | null> {
    if (this.sketch !== undefined) this.sketch.increment(slot.keyHash);
    let flight = this.inflight.get(versionId);
    if (flight !== undefined) {
      this.coalesced++;
    } else {
      const started: Flight = {
        promise: undefined as unknown as Promise<Outcome>,
        admit: true,
        cancelled: false,
      };
      started.promise = this.runRevalidation(versionId, slot, started);
      this.track(versionId, started);
      flight = started;
    }
    return flight.promise.then((outcome) => this.count(outcome));
  }

  private count(outcome: Outcome): DagVersionEntry | null {
    if (outcome.fromCache) this.hits++;
    else if (outcome.entry === null) this.missesNotFound++;
    else this.missesLoaded++;
    return outcome.entry;
  }

  private async runRevalidation(versionId: string, slot: Slot, flight: Flight): Promise<Outcome> {
    this.hashReads++;
    const hash = await this.loader.readHash(versionId);
    if (hash === slot.entry.dagHash) {
      slot.checkedAt = this.clock.now();
      return { entry: slot.entry, fromCache: true };
    }
    if (!flight.cancelled && this.peekSlot(versionId, true) === slot)
      this.remove(versionId, 'invalidated');
    if (hash === null) {
      if (!flight.cancelled) this.negative?.set(versionId, true);
      return { entry: null, fromCache: false };
    }
    this.logger.debug(
      { versionId, previousHash: slot.entry.dagHash, hash },
      'DAG version changed in place; reloading',
    );
    return this.load(versionId, flight, slot.keyHash);
  }

  private startLoad(
    versionId: string,
    admit: boolean,
    keyHash = FrequencySketch.hash(versionId),
  ): Flight {
    const flight: Flight = {
      promise: undefined as unknown as Promise<Outcome>,
      admit,
      cancelled: false,
    };
    flight.promise = this.load(versionId, flight, keyHash);
    this.track(versionId, flight);
    return flight;
  }

  /** Registers a flight and forgets it when it settles (unless invalidate() already did). */
  private track(versionId: string, flight: Flight): void {
    this.inflight.set(versionId, flight);
    const forget = () => {
      if (this.inflight.get(versionId) === flight) this.inflight.delete(versionId);
    };
    flight.promise.then(forget, forget);
  }

  private async load(versionId: string, flight: Flight, keyHash: number): Promise<Outcome> {
    const started = this.clock.now();
    this.loads++;
    let entry: DagVersionEntry;
    try {
      const row = await this.loader.loadVersion(versionId);
      if (row === null) {
        if (!flight.cancelled) this.negative?.set(versionId, true);
        this.loadDuration.record((this.clock.now() - started) / 1000, this.roleAttributes);
        return { entry: null, fromCache: false };
      }
      const dag = deserializeDag(row.data);
      const bytes = row.serializedBytes > 0 ? row.serializedBytes : serializedSize(row.data);
      entry = Object.freeze({
        versionId: row.versionId,
        dagId: row.dagId,
        versionNumber: row.versionNumber,
        dagHash: row.dagHash,
        createdAt: row.createdAt,
        dag,
        weight: entryWeight(bytes),
      });
    } catch (error) {
      this.loadFailures++;
      this.logger.error({ err: error, versionId, role: this.role }, 'loading a DAG version failed');
      throw error;
    }
    this.loadDuration.record((this.clock.now() - started) / 1000, this.roleAttributes);
    if (flight.admit && !flight.cancelled) this.admit(versionId, entry, keyHash);
    return { entry, fromCache: false };
  }

  // -------------------------------------------------------------------------------------------
  // Admission and eviction

  private admit(versionId: string, entry: DagVersionEntry, keyHash: number): void {
    if (this.maxBytes > 0 && entry.weight > this.maxBytes) {
      this.oversizeRejections++;
      this.logger.warn(
        { versionId, weight: entry.weight, maxBytes: this.maxBytes, role: this.role },
        'DAG version heavier than the whole byte cap; not cached',
      );
      return;
    }
    if (this.peekSlot(versionId, true) !== undefined) this.remove(versionId, 'invalidated');
    const slot: Slot = { entry, keyHash, checkedAt: this.clock.now(), seq: ++this.seq };
    if (this.sketch === undefined) {
      // Plain LRU: make room first, so lru-cache never evicts (and never picks the reason).
      if (this.overCaps(1, entry.weight)) this.purgeExpiredIfDue();
      while (this.overCaps(1, entry.weight)) {
        const victim = leastRecent(this.main);
        if (victim === undefined) {
          if (this.purgeExpired() === 0) break;
          continue;
        }
        this.removeFrom(this.main, victim, this.capReason(1));
      }
      this.main.set(versionId, slot);
      return;
    }
    this.window.set(versionId, slot);
    this.enforceCaps();
  }

  /** Whether the resident entries, plus `extraEntries` weighing `extraBytes`, pass a cap. */
  private overCaps(extraEntries = 0, extraBytes = 0): boolean {
    return (
      (this.maxEntries > 0 && this.main.size + this.window.size + extraEntries > this.maxEntries) ||
      (this.maxBytes > 0 &&
        this.main.calculatedSize + this.window.calculatedSize + extraBytes > this.maxBytes)
    );
  }

  /** The cap that forces the next eviction: entries first, bytes otherwise. */
  private capReason(extraEntries = 0): EvictionReason {
    return this.maxEntries > 0 && this.main.size + this.window.size + extraEntries > this.maxEntries
      ? 'capacity'
      : 'bytes';
  }

  /** Whether the window holds more than its share of a cap that is on (no caps: no window). */
  private windowOverShare(): boolean {
    if (this.window.size === 0) return false;
    if (this.maxEntries === 0 && this.maxBytes === 0) return true;
    return (
      (this.maxEntries > 0 && this.window.size > this.windowMaxEntries) ||
      (this.maxBytes > 0 && this.window.calculatedSize > this.windowMaxBytes)
    );
  }

  /**
   * Evicting here, before lru-cache would, is what attributes each eviction to the cap that
   * forced it (`capacity` or `bytes`); lru-cache never has to evict on its own.
   */
  private enforceCaps(): void {
    if (this.overCaps()) this.purgeExpiredIfDue();
    while (this.overCaps()) {
      const reason = this.capReason();
      const candidate =
        this.windowOverShare() || this.main.size === 0 ? leastRecent(this.window) : undefined;
      const victim = leastRecent(this.main);
      if (candidate === undefined && victim === undefined) {
        // Only expired entries are left (lru-cache's iterators skip them): drop them now.
        if (this.purgeExpired() === 0) break;
        continue;
      }
      if (candidate === undefined) {
        this.removeFrom(this.main, victim!, reason);
      } else if (victim === undefined) {
        this.removeFrom(this.window, candidate, reason);
      } else {
        const candidateSlot = this.window.peek(candidate, { allowStale: true })!;
        const victimSlot = this.main.peek(victim, { allowStale: true })!;
        // Ties go to the resident: a key is only let in if it is asked for more often.
        if (
          this.sketch!.estimate(candidateSlot.keyHash) >
          this.sketch!.estimate(victimSlot.keyHash) + ADMISSION_MARGIN
        ) {
          this.removeFrom(this.main, victim, reason);
        } else {
          this.admissionRejections++;
          this.removeFrom(this.window, candidate, reason);
        }
      }
    }
    // Within the caps now: the window's overflow moves into main without evicting anything.
    while (this.windowOverShare()) {
      const key = leastRecent(this.window);
      if (key === undefined) break;
      this.moveToMain(key);
    }
  }

  private moveToMain(key: string): void {
    const slot = this.window.peek(key, { allowStale: true })!;
    // Keep the entry's age: moving between segments is not a use.
    const remaining = this.ttlMs > 0 ? this.window.getRemainingTTL(key) : 0;
    this.deleteReason = null;
    this.window.delete(key);
    this.deleteReason = 'invalidated';
    this.main.set(
      key,
      slot,
      this.ttlMs > 0 ? { start: this.clock.now() - (this.ttlMs - remaining) } : undefined,
    );
  }

  private remove(versionId: string, reason: EvictionReason): boolean {
    this.deleteReason = reason;
    const removed = this.main.delete(versionId) || this.window.delete(versionId);
    this.deleteReason = 'invalidated';
    return removed;
  }

  private removeFrom(segment: LRUCache<string, Slot>, key: string, reason: EvictionReason): void {
    this.deleteReason = reason;
    segment.delete(key);
    this.deleteReason = 'invalidated';
  }

  private onDispose(reason: LRUCache.DisposeReason): void {
    switch (reason) {
      case 'delete':
        if (this.deleteReason !== null) this.evictions[this.deleteReason]++;
        break;
      case 'expire':
        this.evictions.ttl++;
        break;
      case 'evict':
        // Not expected (enforceCaps() evicts first); attributed like enforceCaps() would.
        this.evictions[this.capReason()]++;
        break;
      default:
        // 'set' replaces an entry that admit() already removed; 'fetch' is unused.
        break;
    }
  }

  /**
   * Entries age in recency order (every use refreshes both), so nothing can expire before the
   * least recent entry of each segment does: a full stale scan is only worth it once that moment
   * has passed.
   */
  private purgeExpiredIfDue(): void {
    if (this.ttlMs === 0 || this.clock.now() < this.nextPossibleExpiry) return;
    this.purgeExpired();
  }

  /** Removes expired entries now (reason `ttl`); returns how many. Runs on a timer too. */
  purgeExpired(): number {
    if (this.ttlMs === 0) return 0;
    const before = this.evictions.ttl;
    this.main.purgeStale();
    this.window.purgeStale();
    let next = this.clock.now() + this.ttlMs;
    for (const segment of [this.main, this.window]) {
      const oldest = leastRecent(segment);
      if (oldest !== undefined)
        next = Math.min(next, this.clock.now() + Math.max(0, segment.getRemainingTTL(oldest)));
    }
    this.nextPossibleExpiry = next;
    return this.evictions.ttl - before;
  }

  // -------------------------------------------------------------------------------------------
  // Maintenance

  /** Drops a version now (reason `invalidated`), and any load of it in flight is not admitted. */
  invalidate(versionId: string): boolean {
    const flight = this.inflight.get(versionId);
    if (flight !== undefined) {
      flight.cancelled = true;
      this.inflight.delete(versionId);
    }
    this.negative?.delete(versionId);
    return this.remove(versionId, 'invalidated');
  }

  /**
   * After a gap in change notifications: the hash of every resident version in one query; an
   * entry whose hash changed or whose row is gone is dropped (reason `invalidated`), the others
   * count as freshly revalidated. Loads and admissions meanwhile are left alone (an entry
   * admitted after the query is newer than what it read).
   */
  async revalidateResident(): Promise<{ checked: number; invalidated: number }> {
    const resident = new Map<string, Slot>();
    for (const segment of [this.main, this.window])
      for (const [key, slot] of segment.entries()) resident.set(key, slot);
    if (resident.size === 0) return { checked: 0, invalidated: 0 };
    this.hashReads++;
    const hashes = await this.loader.readHashes([...resident.keys()]);
    const now = this.clock.now();
    let invalidated = 0;
    for (const [versionId, slot] of resident) {
      if (this.peekSlot(versionId, true) !== slot) continue;
      if (hashes.get(versionId) === slot.entry.dagHash) {
        slot.checkedAt = now;
      } else {
        this.invalidate(versionId);
        invalidated++;
      }
    }
    if (invalidated > 0)
      this.logger.info(
        { role: this.role, checked: resident.size, invalidated },
        'DAG cache resynchronised: versions changed in place were dropped',
      );
    return { checked: resident.size, invalidated };
  }

  /** Drops everything (reason `invalidated`); returns how many entries were resident. */
  clear(): number {
    const count = this.main.size + this.window.size;
    for (const flight of this.inflight.values()) flight.cancelled = true;
    this.inflight.clear();
    this.negative?.clear();
    this.deleteReason = 'invalidated';
    this.main.clear();
    this.window.clear();
    return count;
  }

  /**
   * Evicts resident versions no longer referenced by any unfinished run or task instance (reason
   * `inactive`). Entries admitted while the query ran are left alone: the query may predate them.
   */
  async reconcile(): Promise<{ evicted: number }> {
    const seqAtStart = this.seq;
    const active = new Set(await this.loader.activeVersionIds());
    this.purgeExpired();
    let evicted = 0;
    for (const segment of [this.main, this.window]) {
      const retired: string[] = [];
      for (const [key, slot] of segment.entries()) {
        if (slot.seq <= seqAtStart && !active.has(key)) retired.push(key);
      }
      for (const key of retired) this.removeFrom(segment, key, 'inactive');
      evicted += retired.length;
    }
    if (evicted > 0)
      this.logger.debug(
        { role: this.role, evicted, active: active.size },
        'reconciled the DAG cache',
      );
    return { evicted };
  }

  stats(): DagBagStats {
    const misses = this.missesLoaded + this.missesNotFound;
    const lookups = this.hits + misses;
    return {
      role: this.role,
      admission: this.sketch ? 'tinylfu' : 'none',
      entries: this.main.size + this.window.size,
      weight_bytes: this.main.calculatedSize + this.window.calculatedSize,
      max_entries: this.maxEntries,
      max_bytes: this.maxBytes,
      ttl_seconds: this.settings.ttlSeconds,
      revalidate_seconds: this.settings.revalidateSeconds,
      hits: this.hits,
      misses: { loaded: this.missesLoaded, not_found: this.missesNotFound },
      evictions: { ...this.evictions },
      hit_ratio: lookups === 0 ? null : this.hits / lookups,
      loads: this.loads,
      load_failures: this.loadFailures,
      in_flight: this.inflight.size,
      coalesced: this.coalesced,
      negative_hits: this.negativeHits,
      negative_entries: this.negative?.size ?? 0,
      hash_reads: this.hashReads,
      admission_rejections: this.admissionRejections,
      oversize_rejections: this.oversizeRejections,
      uncached_reads: this.uncachedReads,
    };
  }

  /** Whether a version is resident and unexpired (no recency, frequency or counter change). */
  has(versionId: string): boolean {
    return (
      this.main.has(versionId, { updateAgeOnHas: false }) ||
      this.window.has(versionId, { updateAgeOnHas: false })
    );
  }

  /** Stops timers and detaches the metric callbacks. Entries stay readable. */
  close(): void {
    if (this.purgeTimer !== undefined) clearInterval(this.purgeTimer);
    if (this.coarseTimer !== undefined) clearInterval(this.coarseTimer);
    this.purgeTimer = undefined;
    this.coarseTimer = undefined;
    this.meter.removeBatchObservableCallback(this.batchCallback, this.observables);
  }

  // -------------------------------------------------------------------------------------------
  // Metrics

  private instrument(meter: Meter) {
    const { hits, misses, evictions, entries, weight, loadDuration } = CACHE_METRICS;
    const hitCounter = meter.createObservableCounter(hits.name, {
      unit: hits.unit,
      description: hits.description,
    });
    const missCounter = meter.createObservableCounter(misses.name, {
      unit: misses.unit,
      description: misses.description,
    });
    const evictionCounter = meter.createObservableCounter(evictions.name, {
      unit: evictions.unit,
      description: evictions.description,
    });
    const entryGauge = meter.createObservableGauge(entries.name, {
      unit: entries.unit,
      description: entries.description,
    });
    const weightGauge = meter.createObservableGauge(weight.name, {
      unit: weight.unit,
      description: weight.description,
    });
    // The caps beside entries and weight, so a dashboard can draw one against the other (0 = no cap).
    const { maxEntries, maxBytes } = CACHE_LIMIT_METRICS;
    const maxEntriesGauge = meter.createObservableGauge(maxEntries.name, {
      unit: maxEntries.unit,
      description: maxEntries.description,
    });
    const maxBytesGauge = meter.createObservableGauge(maxBytes.name, {
      unit: maxBytes.unit,
      description: maxBytes.description,
    });
    const histogram = meter.createHistogram(loadDuration.name, {
      unit: loadDuration.unit,
      description: loadDuration.description,
      advice: { explicitBucketBoundaries: [...(loadDuration.buckets ?? [])] },
    });
    // Attribute sets are built once: collection allocates nothing per reason or result. Every
    // reason and result is observed from the start (at 0), so dashboards show 0, not "no data".
    const role = this.roleAttributes;
    const missAttributes = MISS_RESULTS.map((result) => [result, { ...role, result }] as const);
    const evictionAttributes = EVICTION_REASONS.map(
      (reason) => [reason, { ...role, reason }] as const,
    );
    const callback: BatchObservableCallback = (result) => {
      result.observe(hitCounter, this.hits, role);
      for (const [outcome, attributes] of missAttributes) {
        result.observe(
          missCounter,
          outcome === 'loaded' ? this.missesLoaded : this.missesNotFound,
          attributes,
        );
      }
      for (const [reason, attributes] of evictionAttributes)
        result.observe(evictionCounter, this.evictions[reason], attributes);
      result.observe(entryGauge, this.main.size + this.window.size, role);
      result.observe(weightGauge, this.main.calculatedSize + this.window.calculatedSize, role);
      result.observe(maxEntriesGauge, this.maxEntries, role);
      result.observe(maxBytesGauge, this.maxBytes, role);
    };
    const observables = [
      hitCounter,
      missCounter,
      evictionCounter,
      entryGauge,
      weightGauge,
      maxEntriesGauge,
      maxBytesGauge,
    ];
    meter.addBatchObservableCallback(callback, observables);
    return { callback, observables, loadDuration: histogram };
  }
}

/**
 * The lru-cache options a DagBag uses for given settings: exported so the benchmark can compare
 * against a bare lru-cache configured exactly the same way.
 */
export function lruOptionsFor<V extends { entry: { weight: number } }>(
  settings: DagCacheSettings,
  clock?: Clock,
): LRUCache.Options<string, V, unknown> {
  return {
    ...(settings.maxEntries > 0 ? { max: settings.maxEntries } : {}),
    maxSize: settings.maxBytes > 0 ? settings.maxBytes : UNBOUNDED_BYTES,
    sizeCalculation: (slot) => slot.entry.weight,
    ...(settings.ttlSeconds > 0 ? { ttl: settings.ttlSeconds * 1000, updateAgeOnGet: true } : {}),
    // lru-cache debounces clock reads with a real 1 ms timer; a controlled clock must be read every time.
    ...(clock ? { perf: clock, ttlResolution: 0 } : {}),
  };
}

/**
 * The sketch is sized to how many entries the caps allow: the entry cap if set, else the byte cap
 * over a typical entry weight (a 32 KB document weighs about 64 KiB).
 */
function expectedEntries(settings: DagCacheSettings): number {
  const TYPICAL_WEIGHT = 64 * 1024;
  if (settings.maxEntries > 0) return settings.maxEntries;
  if (settings.maxBytes > 0) return Math.ceil(settings.maxBytes / TYPICAL_WEIGHT);
  return 4096;
}
