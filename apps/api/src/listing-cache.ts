/**
 * The listing cache: the finished JSON bytes of `GET /api/v2/dags` answers, keyed by the
 * validated query, dropped whole whenever PostgreSQL says that what a listing reads changed
 * (graphile-worker's model: LISTEN/NOTIFY is the signal, and without a trustworthy signal nothing
 * is cached).
 *
 * - The signal: channel `dagbag_listing` (migration `*_listing_notifications`), sent at the commit
 *   of any change of `dag` or `import_error`, by any process. A listing that reads `dag_run` (its
 *   latest run, a run filter) is never cached: run states change without a notification.
 * - Trust: answers are served and stored only while the notifier listens. From `lost` until
 *   `listening` (and before the first `listening`, and with DATABASE_NOTIFICATIONS=off, when there
 *   is no notifier) every listing is read from the database; both events empty the cache.
 * - The race: a miss takes the generation before its query and stores its answer only if no
 *   invalidation came meanwhile, so an answer read before a change is never kept after it.
 * - Read-your-writes: this API's own writes of `dag` call `invalidate()` before they answer; other
 *   processes' writes arrive as notifications (milliseconds).
 * - Concurrent misses of one key in one generation share one query.
 */
import { metrics, type BatchObservableCallback, type Meter } from '@opentelemetry/api';
import type { NotificationChannel, NotifierEvent } from '@dagbag/db';
import { API_METRICS, LISTING_CACHE_RESULTS, createObservable } from '@dagbag/metrics';
import { LRUCache } from 'lru-cache';

/** The notification that empties the cache (typed: a channel renamed in packages/db fails here). */
const LISTING_CHANNEL: NotificationChannel = 'dagbag_listing';

export type ListingLookup = (typeof LISTING_CACHE_RESULTS)[number];

export interface ListingCacheOptions {
  /** API_LISTING_CACHE_MAX_BYTES: total bytes of answers (and keys) kept; 0 = off. */
  maxBytes: number;
  /** Defaults to the global MeterProvider's meter. */
  meter?: Meter;
  /**
   * Runs after a miss's database read, before its answer may be stored: lets a test put an
   * invalidation exactly there.
   */
  afterRead?: (key: string) => Promise<void> | void;
}

/** Where a listing cache gets its signal: the process's notifier. */
export interface ListingSignal {
  subscribe(listener: (event: NotifierEvent) => void): () => void;
  /** Listening now (else: from the next `listening` event on). */
  readonly isListening: boolean;
}

export class ListingCache {
  private readonly entries: LRUCache<string, Uint8Array> | undefined;
  private readonly afterRead: ListingCacheOptions['afterRead'];
  /** Reads in flight of this generation (an invalidation empties it). */
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  /** Bumped by every invalidation: a miss stores its answer only if it did not move. */
  private generation = 0;
  /** Notifications are being received: only then are answers served or stored. */
  private trusted = false;
  /** Lookups by result, counted in plain fields and exported by an observable counter. */
  readonly counts: Record<ListingLookup, number> = { hit: 0, miss: 0, bypass: 0 };
  private readonly meter: Meter;
  private readonly batchCallback: BatchObservableCallback;
  private readonly observable;
  private unsubscribe: (() => void) | undefined;

  constructor(options: ListingCacheOptions) {
    this.entries =
      options.maxBytes > 0
        ? new LRUCache<string, Uint8Array>({
            maxSize: options.maxBytes,
            sizeCalculation: (bytes, key) => bytes.byteLength + key.length,
          })
        : undefined;
    this.afterRead = options.afterRead;
    this.meter = options.meter ?? metrics.getMeter('@dagbag/api');
    this.observable = createObservable(this.meter, API_METRICS.listingCacheLookups);
    const attributes = LISTING_CACHE_RESULTS.map((result) => [result, { result }] as const);
    this.batchCallback = (observer) => {
      for (const [result, set] of attributes)
        observer.observe(this.observable, this.counts[result], set);
    };
    this.meter.addBatchObservableCallback(this.batchCallback, [this.observable]);
  }

  /** Serves and stores answers from now on while `signal` says it is listening. */
  follow(signal: ListingSignal): this {
    this.unsubscribe?.();
    this.invalidate();
    this.trusted = signal.isListening;
    this.unsubscribe = signal.subscribe((event) => {
      switch (event.type) {
        case 'notification':
          if (event.channel === LISTING_CHANNEL) this.invalidate();
          break;
        case 'lost':
          this.trusted = false;
          this.invalidate();
          break;
        case 'listening':
          // Whatever was cached before may have been changed unannounced: start empty.
          this.invalidate();
          this.trusted = true;
          break;
      }
    });
    return this;
  }

  /** Whether answers are served from memory now (on, and notifications are being received). */
  get active(): boolean {
    return this.entries !== undefined && this.trusted;
  }

  /**
   * The answer for `key`: from memory, or `read()` from the database (stored if still current).
   * `key` undefined: this listing is not cacheable, it is read.
   */
  answer(key: string | undefined, read: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const entries = this.entries;
    if (entries === undefined || key === undefined || !this.trusted) {
      this.counts.bypass++;
      return read();
    }
    const cached = entries.get(key);
    if (cached !== undefined) {
      this.counts.hit++;
      return Promise.resolve(cached);
    }
    this.counts.miss++;
    const shared = this.inflight.get(key);
    if (shared !== undefined) return shared;
    const flight = this.readAndStore(entries, key, this.generation, read);
    this.inflight.set(key, flight);
    const landed = () => {
      if (this.inflight.get(key) === flight) this.inflight.delete(key);
    };
    flight.then(landed, landed);
    return flight;
  }

  private async readAndStore(
    entries: LRUCache<string, Uint8Array>,
    key: string,
    generation: number,
    read: () => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    const bytes = await read();
    if (this.afterRead) await this.afterRead(key);
    if (this.trusted && this.generation === generation) entries.set(key, bytes);
    return bytes;
  }

  /** Invalidations so far (notifications, this API's writes, gaps). */
  get invalidations(): number {
    return this.generation;
  }

  /** Drops every answer; reads in flight will not store theirs. */
  readonly invalidate = (): void => {
    this.generation++;
    this.inflight.clear();
    this.entries?.clear();
  };

  /** Answers held now and their bytes (keys included). */
  size(): { entries: number; bytes: number } {
    return { entries: this.entries?.size ?? 0, bytes: this.entries?.calculatedSize ?? 0 };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.trusted = false;
    this.invalidate();
    this.meter.removeBatchObservableCallback(this.batchCallback, [this.observable]);
  }
}
