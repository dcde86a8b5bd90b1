import {
  metrics,
  type Attributes,
  type BatchObservableCallback,
  type Histogram,
  type Meter,
} from '@opentelemetry/api';
import {
  CACHE_LIMIT_METRICS,
  CACHE_METRICS,
  EVICTION_REASONS,
  createInstrument,
  createObservable,
  type EvictionReason,
  type MissResult,
} from '@dagbag/metrics';
import { silentLogger, type Logger } from '@dagbag/logger';
import { LRUCache } from 'lru-cache';
import {
  entryFromRow,
  type DagVersionEntry,
  type DagVersionRow,
  type EntryRenderer,
  type ValidatedHashes,
} from './entry.ts';
import { Flight as FlightOf } from './flight.ts';
import { FrequencySketch } from './sketch.ts';
import {
  defaultCacheSettings,
  validateCacheSettings,
  type CacheRole,
  type DagCacheSettings,
} from './settings.ts';

export type { DagVersionEntry, DagVersionRow, EntryRenderer, RenderedEntry } from './entry.ts';

/** A version found by what its callers know about it rather than by id. */
export type VersionRef = { dagId: string; runId: string } | { dagId: string; latest: true };

/** A resolved reference: the row, without its document when its id was among the `known` ones. */
export type ResolvedVersion = Omit<DagVersionRow, 'dataText'> & { dataText: string | null };

/** The database side of the cache, injected so this package knows nothing about SQL. */
export interface DagVersionLoader {
  /** The rows of these version ids in one query (`WHERE id = ANY($1)`); unknown ids are absent. */
  loadVersions(versionIds: readonly string[]): Promise<DagVersionRow[]>;
  /** The rows of these (dag_id, version_number) pairs in one query; unknown pairs are absent. */
  loadVersionsByNumber(
    refs: readonly { dagId: string; versionNumber: number }[],
  ): Promise<DagVersionRow[]>;
  /**
   * The version a run uses or a DAG's latest, id and row in one query; `dataText` is null when the
   * version is one of `known` (the cache holds it). Null when the run or DAG does not exist.
   */
  resolveVersion(ref: VersionRef, known: readonly string[]): Promise<ResolvedVersion | null>;
  /** The current dag_hash of a version; null if the row is gone. */
  readHash(versionId: string): Promise<string | null>;
  /** The current dag_hash of each version, in one query; versions that are gone are absent. */
  readHashes(versionIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /** Versions referenced by unfinished runs or task instances (one cheap query). */
  activeVersionIds(): Promise<Iterable<string>>;
  /** The rows of those versions, in one query (the scheduler's prewarm). */
  loadActiveVersions(): Promise<DagVersionRow[]>;
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
  /**
   * Adaptive admission window (see ADAPT; the scheduler role's is one entry); false keeps the
   * window at its initial share (INITIAL_WINDOW), for benchmarks that compare the two.
   */
  adaptiveWindow?: boolean;
  /**
   * Renders each entry once, when it is loaded (the API: its structure answer as JSON bytes with
   * their ETag), kept on the entry as `rendered` and counted in its weight. A hit stays a lookup.
   */
  render?: EntryRenderer;
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
  /** Versions loaded (misses, reloads after a changed hash, prewarm). */
  loads: number;
  /** Queries those loads took: misses of one event-loop turn share one. */
  load_queries: number;
  /** Loads and hash revalidations that failed (`dagbag.cache.load.failures`). */
  load_failures: number;
  in_flight: number;
  /** Lookups that joined a load another lookup had started. */
  coalesced: number;
  /** Hits answered by the negative cache (an id known not to exist). */
  negative_hits: number;
  negative_entries: number;
  hash_reads: number;
  /** Loaded documents not validated again: their dag_hash was validated before in this process. */
  validations_skipped: number;
  /** Loaded versions the admission policy kept out (less popular than what they would displace). */
  admission_rejections: number;
  /** Loaded versions heavier than the whole byte cap, returned but never cached. */
  oversize_rejections: number;
  /** The admission window's current share of the caps, in percent (adapted to ghost hits). */
  window_percent: number;
}

interface Slot {
  readonly entry: DagVersionEntry;
  /** FrequencySketch.hash of the version id, computed once so a hit does not hash a string. */
  readonly keyHash: number;
  /** Clock time of the last load or successful revalidation. */
  checkedAt: number;
  /** Admission order, so reconcile() can leave alone what was admitted after its query. */
  readonly seq: number;
  /** Its place in main's member list (see EVICTION_POOL); -1 outside main. */
  member: number;
}

interface Outcome {
  entry: DagVersionEntry | null;
  /** Answered from the cache (a revalidation that found the same hash, a resident version). */
  fromCache: boolean;
}

/** One load of one key (see flight.ts). */
type Flight = FlightOf<Outcome>;

interface QueuedId {
  versionId: string;
  keyHash: number;
  flight: Flight;
}

interface QueuedNumber {
  dagId: string;
  versionNumber: number;
  key: string;
  flight: Flight;
}

/**
 * The share of the caps given to the admission window when it does not adapt (`adaptiveWindow:
 * false`, the benchmark's fixed-window reference). Caffeine starts at 1 %. An adaptive window
 * starts at one entry (share 0) and grows when its ghost hits say so (see ADAPT): with the victim
 * chosen by frequency from all of main (EVICTION_POOL) a window larger than the newcomer itself
 * only held back keys the sketch would have kept (bench/ratio-sim.ts: Zipf 0.9899 -> 0.9901 of the
 * frequency oracle, browsing + crawl 0.9883 -> 0.9887), and the recency-friendly traces grow it
 * as before.
 */
const INITIAL_WINDOW = 0.003;
/**
 * The api role's window adapts to what its misses say, without probing (a probe that grows the
 * window evicts main entries the frequency filter chose, and on frequency-friendly traffic that
 * cost more than adapting gained). Two ghost lists remember the keys the last `GHOST_SHARE` of
 * capacity evictions removed: one of the window's rejected newcomers, one of main's victims. A miss
 * on a window ghost is a hit a window larger by that much would have had; a miss on a main ghost is
 * one a larger main would have had. Every sample of `SAMPLE_FACTOR` × capacity lookups the window
 * moves by `STEP` (growing ×`STEP_GROWTH` while it keeps moving the same way, at most `MAX_STEP`)
 * towards the side with more ghost hits, when the difference exceeds `NOISE_SIGMAS` standard
 * deviations (Poisson) of the two counts (more to grow than to shrink: W-TinyLFU's small window is
 * the default a frequency-friendly workload keeps); otherwise it stays and the step starts over.
 * This is ARC's adaptation signal applied to W-TinyLFU's window, moved in Caffeine's hill-climbing
 * steps.
 *
 * The scheduler role does not adapt: its traffic is the round-robin sweep over its working set,
 * for which every entry given to the window is one fewer hit per round, so its window is the
 * smallest there is (one entry), which measured best on every scheduler trace of bench/.
 */
const ADAPT = {
  STEP: 0.0625,
  MAX_STEP: 0.25,
  STEP_GROWTH: 2,
  GHOST_SHARE: 0.0625,
  SAMPLE_FACTOR: 1,
  NOISE_SIGMAS: { grow: 6, shrink: 2 },
  MIN_WINDOW: 0,
  MAX_WINDOW: 0.8,
} as const;

/**
 * The api role's sketch remembers longer than the paper's, and forgets early when popularity
 * moves. A sketch aged every 32 x capacity sightings tells the keys near the admission boundary
 * apart by a few counts only (Zipf: 0.987 of the frequency oracle); with exact online counts and
 * the same ageing it does no better, with a 4x longer memory 0.989, with no ageing at all 0.990:
 * the noise is the short history, not the sketch. But a long memory holds on to yesterday's
 * popular keys when popularity moves, so the api role ages its sketch every `SAMPLE_FACTOR` x
 * capacity and watches, in each of the climber's samples (see ADAPT), the share of lookups that
 * are repeated misses (a key that missed in this sample or the one before missed again): keys
 * asked for again and again but not kept. When that share rises above `RISE_FACTOR` x its lowest
 * of the last `HISTORY` samples plus `RISE_FLOOR`, popularity has moved: the counters are halved
 * `FORGET_HALVINGS` times (at most once per `MIN_GAP` x capacity lookups), so the new popular keys
 * can displace the old ones within a few sightings. A crawl's misses are not repeated, so a crawl
 * does not trigger it; a Zipf whose popular ids are reshuffled and a loop that changes its ids
 * do. Measured with bench/ratio-sim.ts (see bench/RESULTS.md, issue 13's third round). With the
 * victim chosen from all of main (EVICTION_POOL), 256 x capacity gains again (Zipf 0.9897 ->
 * 0.9901 of the frequency oracle, browsing + crawl 0.9883 -> 0.9887 over 128 x); the doorkeeper,
 * sized by the period, takes 256 bytes per cached entry.
 */
const DRIFT = {
  SAMPLE_FACTOR: 256,
  RISE_FACTOR: 2,
  RISE_FLOOR: 0.005,
  HISTORY: 4,
  FORGET_HALVINGS: 3,
  MIN_GAP: 16,
} as const;

/** Resolution of the hit path's revalidation clock (see `coarseNow`). */
const COARSE_CLOCK_MS = 100;
/**
 * Main's victim is the entry the sketch rates lowest among a pool of `SIZE` candidates kept across
 * evictions, as Redis's eviction pool. At each eviction the pool's estimates are read again (a
 * count may have grown since) and candidates that left main are dropped; then a cursor offers the
 * next `STEP` entries of main's member list (main's entries in no particular order, their key
 * hashes side by side), each taking the place of the pool's highest if it rates lower. The cursor
 * wraps around, so every `capacity / STEP` evictions every entry of main has been examined, and
 * the victim is close to main's weakest entry (bench/ratio-sim.ts: within 0.0003 of the oracle's
 * share of a full scan of main per eviction). A member is read by its hash alone unless it beats
 * the pool, so a step is one sketch estimate; the list is kept up as entries enter and leave main
 * (misses only: a hit does not touch it).
 *
 * Before, the victim was the weakest of main's 64 least recent entries: under Zipf the least
 * recent entry is often a popular one not asked for lately, so sampling the tail by frequency beat
 * plain LRU, but a weak entry that one hit had moved up was no candidate again until it sank back,
 * and the 64 tail entries were read through lru-cache's iterator (a map lookup each). The pool
 * costs less per eviction and finds weaker victims (see bench/RESULTS.md, issue 13's fourth round).
 */
const EVICTION_POOL = { SIZE: 32, STEP: 16 } as const;
/**
 * A newcomer must beat the entry it displaces by more than this. Halving ages every count at one
 * moment, which leaves keys seen just before it one count ahead of keys seen just after; without
 * the margin that difference alone made a cyclic sweep churn (2x sweep: 0.80 of optimal, with
 * it 0.99), and Zipf gained too (0.86 -> 0.89 of optimal). The api role asked for two while its
 * victim came from main's 64 least recent entries (a lead of two was less often noise there);
 * with the victim chosen from all of main (EVICTION_POOL) one is as good on Zipf and browsing +
 * crawl and better where popularity moves (bench/ratio-sim.ts: the api loop that changes size
 * 72.0 -> 73.3 %, the reshuffled Zipf 55.8 -> 56.5 %); zero gains on Zipf (0.9903) but costs the
 * loop that changes size 3.3 points.
 */
const ADMISSION_MARGIN = 1;
/** Ids per load query; a larger turn's misses are split into several queries run together. */
const MAX_BATCH = 500;
/** lru-cache needs some bound; with the byte cap off, sizes are tracked against this one. */
const UNBOUNDED_BYTES = Number.MAX_SAFE_INTEGER;
/**
 * A version weighs about this much on average (a 32 KB document): sizes the sketch for byte caps.
 */
const TYPICAL_WEIGHT = 64 * 1024;

/** The least recently used unexpired key of a segment. */
function leastRecent(segment: LRUCache<string, Slot>): string | undefined {
  return segment.rkeys().next().value ?? undefined;
}

/** Index of the highest of the first `length` counts. */
function indexOfHighest(counts: Int32Array, length: number): number {
  let highest = 0;
  for (let i = 1; i < length; i++) if (counts[i]! > counts[highest]!) highest = i;
  return highest;
}

function numberKey(dagId: string, versionNumber: number): string {
  return `${versionNumber}\u0000${dagId}`;
}

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
  private readonly render: EntryRenderer | undefined;
  /**
   * W-TinyLFU (Einziger, Friedman, Manes 2017; Caffeine's policy) on two lru-caches: every
   * newcomer enters the `window` unconditionally, so bursts of new keys get a chance; when the
   * caps are reached, the window's least recent entry competes with `main`'s least recent entry
   * and the one the frequency sketch rates lower is evicted. A sweep or a crawl therefore churns
   * the window only and cannot flush what `main` holds. Without admission only `main` is used.
   */
  private readonly main: LRUCache<string, Slot>;
  private readonly window: LRUCache<string, Slot>;
  private readonly sketch: FrequencySketch | undefined;
  private readonly negative: LRUCache<string, true> | undefined;
  /** dag_id -> version_number -> id of every resident version: getVersion's hit is map lookups. */
  private readonly byDag = new Map<string, Map<number, string>>();
  private readonly inflight = new Map<string, Flight>();
  /**
   * dag_hash of the documents this cache validated (bounded): a version loaded again after its
   * eviction is not validated again (see entryFromRow).
   */
  private readonly validatedHashes: ValidatedHashes;
  private readonly inflightNumbers = new Map<string, Flight>();
  private queuedIds: QueuedId[] = [];
  private queuedNumbers: QueuedNumber[] = [];
  private flushScheduled = false;
  private readonly revalidateMs: number;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private seq = 0;
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

  // The admission window's share of the caps, adapted to ghost hits (see ADAPT).
  private windowShare = INITIAL_WINDOW;
  private windowMaxEntries = 0;
  private windowMaxBytes = 0;
  private readonly adaptive: boolean;
  /**
   * Main's entries in no order, with their key hashes side by side, for the eviction cursor to walk
   * (see EVICTION_POOL); an entry leaving main gives its place to the last one.
   */
  private readonly members: Slot[] = [];
  private readonly memberHashes: number[] = [];
  private cursor = 0;
  /** Main's eviction candidates and their estimates at the last eviction. */
  private readonly pool: Slot[] = [];
  private readonly poolCounts = new Int32Array(EVICTION_POOL.SIZE);
  /** Keys of the latest evictions (insertion-ordered, bounded): see ADAPT. */
  private readonly windowGhosts = new Set<string>();
  private readonly mainGhosts = new Set<string>();
  private windowGhostHits = 0;
  private mainGhostHits = 0;
  private adaptStep: number = ADAPT.STEP;
  private lastMove = 0;
  private sampleStartLookups = 0;
  // Drift detection (see DRIFT): keys that missed in this sample, and in the previous one.
  private readonly watchesDrift: boolean;
  private missedNow = new Set<string>();
  private missedBefore = new Set<string>();
  private repeatedMisses = 0;
  private readonly repeatedMissShares: number[] = [];
  private lastForgetLookups = 0;

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
  private loadQueries = 0;
  private loadFailures = 0;
  private coalesced = 0;
  private negativeHits = 0;
  private hashReads = 0;
  private validationsSkipped = 0;
  private admissionRejections = 0;
  private oversizeRejections = 0;

  private readonly roleAttributes: Attributes;
  private readonly loadDuration: Histogram;
  private readonly detachMetrics: () => void;

  constructor(options: DagBagOptions) {
    if (options.role !== 'api' && options.role !== 'scheduler') {
      throw new TypeError(
        `DagBag role must be "api" or "scheduler"; got ${JSON.stringify(options.role)}`,
      );
    }
    if (typeof options.loader?.loadVersions !== 'function')
      throw new TypeError('DagBag loader must implement DagVersionLoader');
    this.role = options.role;
    this.loader = options.loader;
    this.settings = Object.freeze(
      validateCacheSettings({ ...defaultCacheSettings(options.role), ...options.settings }),
    );
    this.clock = options.clock ?? performance;
    this.exactClock = options.clock !== undefined;
    this.logger = options.logger ?? silentLogger;
    this.render = options.render;
    this.revalidateMs = this.settings.revalidateSeconds * 1000;
    this.ttlMs = this.settings.ttlSeconds * 1000;
    this.maxEntries = this.settings.maxEntries;
    this.maxBytes = this.settings.maxBytes;

    // Removals the cache makes itself are counted where they happen, with their reason; lru-cache
    // only reports what it decides alone: expiry (and, never expected, an eviction of its own).
    const dispose = (slot: Slot, _key: string, reason: LRUCache.DisposeReason) => {
      if (reason === 'expire') this.evictions.ttl++;
      else if (reason === 'evict') this.evictions[this.capReason()]++;
      else return;
      this.unindex(slot);
    };
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
    this.adaptive = admission && options.adaptiveWindow !== false;
    this.watchesDrift = this.adaptive && this.role === 'api';
    if (admission) {
      this.sketch = new FrequencySketch(
        this.capacity(),
        this.watchesDrift ? DRIFT.SAMPLE_FACTOR : FrequencySketch.DEFAULT_SAMPLE_FACTOR,
      );
      this.setWindowShare(this.adaptive ? ADAPT.MIN_WINDOW : INITIAL_WINDOW);
    }
    const validated = new LRUCache<string, true>({
      max: Math.min(100_000, Math.max(1024, 4 * this.capacity())),
    });
    this.validatedHashes = {
      has: (hash) => validated.has(hash),
      add: (hash) => void validated.set(hash, true),
    };
    this.negative =
      this.settings.negativeTtlSeconds > 0
        ? new LRUCache<string, true>({
            max: this.settings.maxNegativeEntries,
            ttl: this.settings.negativeTtlSeconds * 1000,
            ...(options.clock ? { perf: options.clock, ttlResolution: 0 } : {}),
          })
        : undefined;

    this.roleAttributes = { 'dagbag.role': this.role };
    const meter = options.meter ?? metrics.getMeter('@dagbag/dagbag');
    this.loadDuration = createInstrument(meter, CACHE_METRICS.loadDuration);
    this.detachMetrics = this.observe(meter);

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
    return slot === undefined ? undefined : this.freshHit(slot);
  }

  /** The version, from the cache or loaded (and admitted if the policy agrees); null if unknown. */
  get(versionId: string): Promise<DagVersionEntry | null> {
    const slot = this.main.get(versionId) ?? this.window.get(versionId);
    if (slot === undefined) return this.miss(versionId);
    const entry = this.freshHit(slot);
    return entry === undefined ? this.revalidate(versionId, slot) : Promise.resolve(entry);
  }

  /**
   * A version by its DAG and number: a resident one without any query, otherwise one query for
   * id and row together (misses of one event-loop turn share it).
   */
  getVersion(dagId: string, versionNumber: number): Promise<DagVersionEntry | null> {
    const versionId = this.byDag.get(dagId)?.get(versionNumber);
    if (versionId !== undefined) return this.get(versionId);
    return this.missByNumber(dagId, versionNumber, numberKey(dagId, versionNumber));
  }

  /**
   * The version a run uses now: one query resolving the id, carrying the row only when this cache
   * does not hold that version.
   */
  getForRun(dagId: string, runId: string): Promise<DagVersionEntry | null> {
    return this.resolve({ dagId, runId });
  }

  /** The latest version of a DAG, as `getForRun`: one query, the row only when not resident. */
  getLatest(dagId: string): Promise<DagVersionEntry | null> {
    return this.resolve({ dagId, latest: true });
  }

  /**
   * The one hit path: counts the hit and returns the entry, or undefined when due for revalidation.
   */
  private freshHit(slot: Slot): DagVersionEntry | undefined {
    if (this.revalidateMs > 0 && this.hitTime() - slot.checkedAt >= this.revalidateMs)
      return undefined;
    this.hits++;
    if (this.sketch !== undefined) this.sketch.increment(slot.keyHash);
    return slot.entry;
  }

  private hitTime(): number {
    return this.exactClock ? this.clock.now() : this.coarseNow;
  }

  private peekSlot(versionId: string): Slot | undefined {
    return (
      this.main.peek(versionId, { allowStale: true }) ??
      this.window.peek(versionId, { allowStale: true })
    );
  }

  private miss(versionId: string): Promise<DagVersionEntry | null> {
    const keyHash = FrequencySketch.hash(versionId);
    if (this.sketch !== undefined) this.sketch.increment(keyHash);
    if (this.negative !== undefined && this.negative.get(versionId) === true) {
      this.hits++;
      this.negativeHits++;
      return Promise.resolve(null);
    }
    let flight = this.inflight.get(versionId);
    if (flight !== undefined) {
      this.coalesced++;
    } else {
      flight = new FlightOf<Outcome>(this.clock.now());
      this.inflight.set(versionId, flight);
      this.queuedIds.push({ versionId, keyHash, flight });
      this.scheduleFlush();
    }
    return flight.promise.then(this.count);
  }

  private missByNumber(
    dagId: string,
    versionNumber: number,
    key: string,
  ): Promise<DagVersionEntry | null> {
    // Not remembered as unknown: the next version number of a DAG is about to exist.
    let flight = this.inflightNumbers.get(key);
    if (flight !== undefined) {
      this.coalesced++;
    } else {
      flight = new FlightOf<Outcome>(this.clock.now());
      this.inflightNumbers.set(key, flight);
      this.queuedNumbers.push({ dagId, versionNumber, key, flight });
      this.scheduleFlush();
    }
    return flight.promise.then(this.count);
  }

  private async resolve(ref: VersionRef): Promise<DagVersionEntry | null> {
    const known = [...(this.byDag.get(ref.dagId)?.values() ?? [])];
    let row: ResolvedVersion | null;
    try {
      row = await this.loader.resolveVersion(ref, known);
    } catch (error) {
      this.loadFailures++;
      throw error;
    }
    if (row === null) return null;
    if (row.dataText === null || this.peekSlot(row.versionId) !== undefined) {
      // Resident when the query ran: a lookup by id (a hit, unless evicted since).
      return this.get(row.versionId);
    }
    const flight = this.inflight.get(row.versionId);
    if (flight !== undefined) {
      this.coalesced++;
      return this.count(await flight.promise);
    }
    const keyHash = FrequencySketch.hash(row.versionId);
    if (this.sketch !== undefined) this.sketch.increment(keyHash);
    const started = this.clock.now();
    this.loads++;
    return this.count(this.complete(row as DagVersionRow, keyHash, started, false));
  }

  private readonly count = (outcome: Outcome): DagVersionEntry | null => {
    if (outcome.fromCache) this.hits++;
    else if (outcome.entry === null) this.missesNotFound++;
    else this.missesLoaded++;
    return outcome.entry;
  };

  private revalidate(versionId: string, slot: Slot): Promise<DagVersionEntry | null> {
    if (this.sketch !== undefined) this.sketch.increment(slot.keyHash);
    let flight = this.inflight.get(versionId);
    if (flight !== undefined) {
      this.coalesced++;
    } else {
      flight = new FlightOf<Outcome>(this.clock.now());
      this.inflight.set(versionId, flight);
      void this.runRevalidation(versionId, slot, flight);
    }
    return flight.promise.then(this.count);
  }

  private async runRevalidation(versionId: string, slot: Slot, flight: Flight): Promise<void> {
    this.hashReads++;
    let hash: string | null;
    try {
      hash = await this.loader.readHash(versionId);
    } catch (error) {
      this.loadFailures++;
      this.settle(versionId, flight);
      flight.reject(error);
      return;
    }
    if (hash === slot.entry.dagHash) {
      slot.checkedAt = this.clock.now();
      this.settle(versionId, flight);
      flight.resolve({ entry: slot.entry, fromCache: true });
      return;
    }
    if (!flight.cancelled && this.peekSlot(versionId) === slot)
      this.remove(versionId, 'invalidated');
    if (hash === null) {
      if (!flight.cancelled) this.negative?.set(versionId, true);
      this.settle(versionId, flight);
      flight.resolve({ entry: null, fromCache: false });
      return;
    }
    this.logger.debug(
      { versionId, previousHash: slot.entry.dagHash, hash },
      'DAG version changed in place; reloading',
    );
    this.queuedIds.push({ versionId, keyHash: slot.keyHash, flight });
    this.scheduleFlush();
  }

  /** Forgets a finished flight (unless invalidate() already replaced or dropped it). */
  private settle(versionId: string, flight: Flight): void {
    if (this.inflight.get(versionId) === flight) this.inflight.delete(versionId);
  }

  // -------------------------------------------------------------------------------------------
  // Batched loads

  /** Misses queued in this event-loop turn are loaded together once it ends. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const ids = this.queuedIds;
    const numbers = this.queuedNumbers;
    this.queuedIds = [];
    this.queuedNumbers = [];
    for (let i = 0; i < ids.length; i += MAX_BATCH) void this.loadIds(ids.slice(i, i + MAX_BATCH));
    for (let i = 0; i < numbers.length; i += MAX_BATCH)
      void this.loadNumbers(numbers.slice(i, i + MAX_BATCH));
  };

  private async loadIds(batch: QueuedId[]): Promise<void> {
    this.loadQueries++;
    this.loads += batch.length;
    let rows: DagVersionRow[];
    try {
      rows = await this.loader.loadVersions(batch.map((queued) => queued.versionId));
    } catch (error) {
      this.failAll(batch, error, (queued) => this.settle(queued.versionId, queued.flight));
      return;
    }
    const byId = new Map(rows.map((row) => [row.versionId, row]));
    for (const { versionId, keyHash, flight } of batch) {
      this.settle(versionId, flight);
      const row = byId.get(versionId);
      if (row === undefined) {
        if (!flight.cancelled) this.negative?.set(versionId, true);
        this.recordLoad(flight.started);
        flight.resolve({ entry: null, fromCache: false });
        continue;
      }
      try {
        flight.resolve(this.complete(row, keyHash, flight.started, flight.cancelled));
      } catch (error) {
        flight.reject(error);
      }
    }
  }

  private async loadNumbers(batch: QueuedNumber[]): Promise<void> {
    this.loadQueries++;
    this.loads += batch.length;
    const forget = (queued: QueuedNumber) => {
      if (this.inflightNumbers.get(queued.key) === queued.flight)
        this.inflightNumbers.delete(queued.key);
    };
    let rows: DagVersionRow[];
    try {
      rows = await this.loader.loadVersionsByNumber(batch);
    } catch (error) {
      this.failAll(batch, error, forget);
      return;
    }
    const byKey = new Map(rows.map((row) => [numberKey(row.dagId, row.versionNumber), row]));
    for (const queued of batch) {
      forget(queued);
      const row = byKey.get(queued.key);
      if (row === undefined) {
        this.recordLoad(queued.flight.started);
        queued.flight.resolve({ entry: null, fromCache: false });
        continue;
      }
      const keyHash = FrequencySketch.hash(row.versionId);
      if (this.sketch !== undefined) this.sketch.increment(keyHash);
      try {
        queued.flight.resolve(
          this.complete(row, keyHash, queued.flight.started, queued.flight.cancelled),
        );
      } catch (error) {
        queued.flight.reject(error);
      }
    }
  }

  private failAll<T extends { flight: Flight }>(
    batch: T[],
    error: unknown,
    forget: (queued: T) => void,
  ): void {
    this.loadFailures += batch.length;
    this.logger.error(
      { err: error, role: this.role, versions: batch.length },
      'loading DAG versions failed',
    );
    for (const queued of batch) {
      forget(queued);
      queued.flight.reject(error);
    }
  }

  /** Turns a loaded row into an entry and admits it (unless cancelled or already resident). */
  private complete(
    row: DagVersionRow,
    keyHash: number,
    started: number,
    cancelled: boolean,
  ): Outcome {
    const resident = this.peekSlot(row.versionId);
    if (resident !== undefined && resident.entry.dagHash === row.dagHash) {
      this.recordLoad(started);
      return { entry: resident.entry, fromCache: false };
    }
    let entry: DagVersionEntry;
    let trusted: boolean;
    try {
      ({ entry, trusted } = entryFromRow(row, {
        validated: this.validatedHashes,
        ...(this.render ? { render: this.render } : {}),
      }));
    } catch (error) {
      this.loadFailures++;
      this.logger.error(
        { err: error, versionId: row.versionId, role: this.role },
        'loading a DAG version failed',
      );
      throw error;
    }
    if (trusted) this.validationsSkipped++;
    this.recordLoad(started);
    if (!cancelled) this.admit(row.versionId, entry, keyHash);
    return { entry, fromCache: false };
  }

  private recordLoad(started: number): void {
    this.loadDuration.record((this.clock.now() - started) / 1000, this.roleAttributes);
  }

  /**
   * Loads every version unfinished runs and task instances use, in one query, and admits what is
   * not resident yet: the scheduler calls it at start and after a gap in its notifications, so a
   * restart does not meet its working set as one miss per version. Returns how many it loaded.
   */
  async prewarm(): Promise<{ loaded: number }> {
    const seqAtStart = this.seq;
    const started = this.clock.now();
    this.loadQueries++;
    const rows = await this.loader.loadActiveVersions();
    let loaded = 0;
    for (const row of rows) {
      if (this.peekSlot(row.versionId) !== undefined || this.inflight.has(row.versionId)) continue;
      this.loads++;
      loaded++;
      try {
        this.complete(row, FrequencySketch.hash(row.versionId), started, false);
      } catch {
        // Logged by complete(); one bad row does not keep the others out.
      }
    }
    this.logger.info(
      { role: this.role, loaded, active: rows.length, admittedBefore: seqAtStart },
      'prewarmed the DAG cache',
    );
    return { loaded };
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
    if (this.peekSlot(versionId) !== undefined) this.remove(versionId, 'invalidated');
    const slot: Slot = {
      entry,
      keyHash,
      checkedAt: this.clock.now(),
      seq: ++this.seq,
      member: -1,
    };
    let versions = this.byDag.get(entry.dagId);
    if (versions === undefined) this.byDag.set(entry.dagId, (versions = new Map<number, string>()));
    versions.set(entry.versionNumber, versionId);
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
    this.adapt(versionId);
    this.window.set(versionId, slot);
    this.enforceCaps();
    const size = this.main.size + this.window.size;
    if (size > this.sketch.capacity) this.sketch.ensureCapacity(2 * size);
  }

  /** How many entries the caps allow: the entry cap, else the byte cap over a typical weight. */
  private capacity(): number {
    if (this.maxEntries > 0) return this.maxEntries;
    if (this.maxBytes > 0) return Math.ceil(this.maxBytes / TYPICAL_WEIGHT);
    return 4096;
  }

  private setWindowShare(share: number): void {
    this.windowShare = share;
    this.windowMaxEntries =
      this.maxEntries > 0 ? Math.max(1, Math.floor(this.maxEntries * share)) : 0;
    this.windowMaxBytes = this.maxBytes > 0 ? Math.floor(this.maxBytes * share) : 0;
  }

  /** Adapts the api role's window to its ghost hits (see ADAPT); runs on misses only. */
  private adapt(versionId: string): void {
    if (!this.adaptive || this.role === 'scheduler') return;
    if (this.windowGhosts.delete(versionId)) this.windowGhostHits++;
    else if (this.mainGhosts.delete(versionId)) this.mainGhostHits++;
    if (this.missedNow.has(versionId) || this.missedBefore.has(versionId)) this.repeatedMisses++;
    else this.missedNow.add(versionId);
    const lookups = this.hits + this.missesLoaded + this.missesNotFound;
    const capacity = this.maxEntries > 0 ? this.maxEntries : this.sizeNow();
    if (lookups - this.sampleStartLookups < Math.max(ADAPT.SAMPLE_FACTOR * capacity, 1000)) return;
    this.watchDrift(lookups, capacity);
    this.sampleStartLookups = lookups;
    const difference = this.windowGhostHits - this.mainGhostHits;
    const sigma = Math.sqrt(this.windowGhostHits + this.mainGhostHits);
    this.windowGhostHits = 0;
    this.mainGhostHits = 0;
    const direction =
      difference > ADAPT.NOISE_SIGMAS.grow * sigma
        ? 1
        : -difference > ADAPT.NOISE_SIGMAS.shrink * sigma
          ? -1
          : 0;
    if (direction === 0) {
      this.adaptStep = ADAPT.STEP;
      this.lastMove = 0;
      return;
    }
    this.adaptStep =
      direction === this.lastMove
        ? Math.min(ADAPT.MAX_STEP, this.adaptStep * ADAPT.STEP_GROWTH)
        : ADAPT.STEP;
    this.lastMove = direction;
    this.setWindowShare(
      Math.min(
        ADAPT.MAX_WINDOW,
        Math.max(ADAPT.MIN_WINDOW, this.windowShare + direction * this.adaptStep),
      ),
    );
  }

  /** At the end of a climber's sample: forgets the sketch's history if popularity moved. */
  private watchDrift(lookups: number, capacity: number): void {
    const share = this.repeatedMisses / (lookups - this.sampleStartLookups);
    this.repeatedMisses = 0;
    const older = this.missedBefore;
    older.clear();
    this.missedBefore = this.missedNow;
    this.missedNow = older;
    const shares = this.repeatedMissShares;
    if (
      shares.length > 0 &&
      share >= DRIFT.RISE_FACTOR * Math.min(...shares) + DRIFT.RISE_FLOOR &&
      lookups - this.lastForgetLookups >= DRIFT.MIN_GAP * capacity
    ) {
      for (let i = 0; i < DRIFT.FORGET_HALVINGS; i++) this.sketch!.halve();
      this.lastForgetLookups = lookups;
      this.logger.debug(
        { role: this.role, repeatedMissShare: share, before: Math.min(...shares) },
        'DAG cache: popularity moved (repeated misses rose); the frequency sketch forgets early',
      );
    }
    shares.push(share);
    if (shares.length > DRIFT.HISTORY) shares.shift();
  }

  /** Of main's eviction candidates (see EVICTION_POOL), the one the sketch rates lowest. */
  private weakestInPool(): string | undefined {
    const sketch = this.sketch!;
    const pool = this.pool;
    const counts = this.poolCounts;
    let kept = 0;
    for (let i = 0; i < pool.length; i++) {
      const slot = pool[i]!;
      if (slot.member < 0) continue;
      pool[kept] = slot;
      counts[kept] = sketch.estimate(slot.keyHash);
      kept++;
    }
    pool.length = kept;
    const members = this.members;
    const hashes = this.memberHashes;
    const steps = Math.min(EVICTION_POOL.STEP, members.length);
    let highest = pool.length < EVICTION_POOL.SIZE ? -1 : indexOfHighest(counts, pool.length);
    for (let n = 0; n < steps; n++) {
      if (this.cursor >= members.length) this.cursor = 0;
      const at = this.cursor++;
      // The hash alone rules most entries out; only a candidate is looked at.
      const count = sketch.estimate(hashes[at]!);
      if (highest >= 0 && count >= counts[highest]!) continue;
      const slot = members[at]!;
      if (pool.includes(slot)) continue;
      if (highest < 0) {
        counts[pool.length] = count;
        pool.push(slot);
        if (pool.length === EVICTION_POOL.SIZE) highest = indexOfHighest(counts, pool.length);
        continue;
      }
      pool[highest] = slot;
      counts[highest] = count;
      highest = indexOfHighest(counts, pool.length);
    }
    let lowest = -1;
    for (let i = 0; i < pool.length; i++)
      if (lowest < 0 || counts[i]! < counts[lowest]!) lowest = i;
    if (lowest < 0) return leastRecent(this.main);
    const victim = pool[lowest]!;
    // The member list follows every way out of main; should it ever miss one, the entry is
    // forgotten here rather than chosen again and again.
    if (this.main.peek(victim.entry.versionId, { allowStale: true }) === victim)
      return victim.entry.versionId;
    this.leaveMain(victim);
    return leastRecent(this.main);
  }

  /** Enters a slot moving into main in main's member list. */
  private joinMain(slot: Slot): void {
    slot.member = this.members.length;
    this.members.push(slot);
    this.memberHashes.push(slot.keyHash);
  }

  /** Takes a slot leaving the cache out of main's member list (the last member takes its place). */
  private leaveMain(slot: Slot): void {
    const at = slot.member;
    if (at < 0) return;
    slot.member = -1;
    const last = this.members.pop()!;
    const lastHash = this.memberHashes.pop()!;
    if (last === slot) return;
    this.members[at] = last;
    this.memberHashes[at] = lastHash;
    last.member = at;
  }

  /** Remembers an evicted key in a bounded ghost list (the oldest goes first). */
  private remember(ghosts: Set<string>, key: string): void {
    if (!this.adaptive || this.role === 'scheduler') return;
    const capacity = this.maxEntries > 0 ? this.maxEntries : this.sizeNow();
    ghosts.add(key);
    const limit = Math.max(16, Math.round(ADAPT.GHOST_SHARE * capacity));
    while (ghosts.size > limit) ghosts.delete(ghosts.values().next().value!);
  }

  private sizeNow(): number {
    return Math.max(1, this.main.size + this.window.size);
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
      const victim = candidate === undefined ? leastRecent(this.main) : this.weakestInPool();
      if (candidate === undefined && victim === undefined) {
        // Only expired entries are left (lru-cache's iterators skip them): drop them now.
        if (this.purgeExpired() === 0) break;
        continue;
      }
      if (candidate === undefined) {
        this.removeFrom(this.main, victim!, reason);
        this.remember(this.mainGhosts, victim!);
      } else if (victim === undefined) {
        this.removeFrom(this.window, candidate, reason);
        this.remember(this.windowGhosts, candidate);
      } else {
        const candidateSlot = this.window.peek(candidate, { allowStale: true })!;
        const victimSlot = this.main.peek(victim, { allowStale: true })!;
        // Ties go to the resident: a key is only let in if it is asked for more often.
        if (
          this.sketch!.estimate(candidateSlot.keyHash) >
          this.sketch!.estimate(victimSlot.keyHash) + ADMISSION_MARGIN
        ) {
          this.removeFrom(this.main, victim, reason);
          this.remember(this.mainGhosts, victim);
        } else {
          this.admissionRejections++;
          this.removeFrom(this.window, candidate, reason);
          this.remember(this.windowGhosts, candidate);
        }
      }
    }
    // Within the caps now: the window's overflow moves into main without evicting anything.
    while (this.windowOverShare()) {
      const key = leastRecent(this.window);
      if (key === undefined) break;
      const slot = this.window.peek(key, { allowStale: true })!;
      // Keep the entry's age: moving between segments is not a use. (lru-cache reports the
      // window's delete to dispose() as 'delete', which counts nothing.)
      const remaining = this.ttlMs > 0 ? this.window.getRemainingTTL(key) : 0;
      this.window.delete(key);
      this.joinMain(slot);
      this.main.set(
        key,
        slot,
        this.ttlMs > 0 ? { start: this.clock.now() - (this.ttlMs - remaining) } : undefined,
      );
    }
  }

  private remove(versionId: string, reason: EvictionReason): boolean {
    return (
      this.removeFrom(this.main, versionId, reason) ||
      this.removeFrom(this.window, versionId, reason)
    );
  }

  /** Removes a key from a segment, counting the eviction under `reason`. */
  private removeFrom(
    segment: LRUCache<string, Slot>,
    key: string,
    reason: EvictionReason,
  ): boolean {
    const slot = segment.peek(key, { allowStale: true });
    if (slot === undefined || !segment.delete(key)) return false;
    this.evictions[reason]++;
    this.unindex(slot);
    return true;
  }

  private unindex(slot: Slot): void {
    this.leaveMain(slot);
    const { dagId, versionNumber, versionId } = slot.entry;
    const versions = this.byDag.get(dagId);
    if (versions?.get(versionNumber) !== versionId) return;
    versions.delete(versionNumber);
    if (versions.size === 0) this.byDag.delete(dagId);
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
      if (this.peekSlot(versionId) !== slot) continue;
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
    for (const flight of [...this.inflight.values(), ...this.inflightNumbers.values()])
      flight.cancelled = true;
    this.inflight.clear();
    this.inflightNumbers.clear();
    this.negative?.clear();
    this.evictions.invalidated += count;
    this.byDag.clear();
    this.windowGhosts.clear();
    this.mainGhosts.clear();
    this.missedNow.clear();
    this.missedBefore.clear();
    for (const slot of this.members) slot.member = -1;
    this.members.length = 0;
    this.memberHashes.length = 0;
    this.pool.length = 0;
    this.cursor = 0;
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
      load_queries: this.loadQueries,
      load_failures: this.loadFailures,
      in_flight: this.inflight.size + this.inflightNumbers.size,
      coalesced: this.coalesced,
      negative_hits: this.negativeHits,
      negative_entries: this.negative?.size ?? 0,
      hash_reads: this.hashReads,
      validations_skipped: this.validationsSkipped,
      admission_rejections: this.admissionRejections,
      oversize_rejections: this.oversizeRejections,
      window_percent: this.sketch ? Math.round(this.windowShare * 10_000) / 100 : 0,
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
    this.detachMetrics();
  }

  // -------------------------------------------------------------------------------------------
  // Metrics

  /**
   * Counters and gauges are observable instruments read from the plain fields by one batch
   * callback, so the hit path does no attribute hashing. Attribute sets are built once; every
   * reason and result is observed from the start (at 0), so dashboards show 0, not "no data".
   * Returns what detaches the callback.
   */
  private observe(meter: Meter): () => void {
    const hits = createObservable(meter, CACHE_METRICS.hits);
    const misses = createObservable(meter, CACHE_METRICS.misses);
    const evictions = createObservable(meter, CACHE_METRICS.evictions);
    const failures = createObservable(meter, CACHE_METRICS.loadFailures);
    const entries = createObservable(meter, CACHE_METRICS.entries);
    const weight = createObservable(meter, CACHE_METRICS.weight);
    // The caps beside entries and weight, so a dashboard can draw one against the other (0 = no
    // cap).
    const maxEntries = createObservable(meter, CACHE_LIMIT_METRICS.maxEntries);
    const maxBytes = createObservable(meter, CACHE_LIMIT_METRICS.maxBytes);
    const role = this.roleAttributes;
    const loaded = { ...role, result: 'loaded' };
    const notFound = { ...role, result: 'not_found' };
    const byReason = EVICTION_REASONS.map((reason) => [reason, { ...role, reason }] as const);
    const observables = [hits, misses, evictions, failures, entries, weight, maxEntries, maxBytes];
    const callback: BatchObservableCallback = (result) => {
      result.observe(hits, this.hits, role);
      result.observe(misses, this.missesLoaded, loaded);
      result.observe(misses, this.missesNotFound, notFound);
      for (const [reason, attributes] of byReason)
        result.observe(evictions, this.evictions[reason], attributes);
      result.observe(failures, this.loadFailures, role);
      result.observe(entries, this.main.size + this.window.size, role);
      result.observe(weight, this.main.calculatedSize + this.window.calculatedSize, role);
      result.observe(maxEntries, this.maxEntries, role);
      result.observe(maxBytes, this.maxBytes, role);
    };
    meter.addBatchObservableCallback(callback, observables);
    return () => meter.removeBatchObservableCallback(callback, observables);
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
    // lru-cache debounces clock reads with a real 1 ms timer; a controlled clock must be read every
    // time.
    ...(clock ? { perf: clock, ttlResolution: 0 } : {}),
  };
}
