/**
 * TinyLFU's frequency sketch: a count-min sketch of 8-bit counters (4 rows of 8 per cached entry)
 * that estimates how often a key was asked for recently, in 32 bytes per cached entry.
 * After `sampleSize` increments every counter is halved, so old popularity fades and a key that
 * was hot yesterday cannot hold its place forever (Einziger, Friedman, Manes: "TinyLFU", 2017).
 * The owner may also age it early (`halve`) when it sees the popularity move.
 *
 * Counters are 8-bit, not the paper's 4: over a long sample period keys near a cache's admission
 * boundary are seen more than 15 times, and 4-bit counters saturated there, so the keys the
 * admission decision had to tell apart all read 15 (bench/ratio-sim.ts, 128 x capacity: Zipf 0.988
 * of the frequency oracle with 4 bits, 0.989 with 8, as with exact counts).
 *
 * A doorkeeper (a small Bloom filter, cleared at each halving) absorbs each key's first sighting,
 * so a crawl of one-hit keys does not fill the counters and inflate everyone's estimate.
 *
 * Keys are hashed once (`FrequencySketch.hash`) and the hash is kept with the cache entry, so a
 * hit costs four counter updates and no string hashing.
 */
export class FrequencySketch {
  static readonly MAX_COUNT = 255;
  /** Counters, one byte each: row r's counter i is at r * width + i. */
  private table!: Uint8Array;
  /** The same bytes, four per word, for halving. */
  private words!: Uint32Array;
  private doorkeeper!: Uint32Array;
  private doorkeeperMask = 0;
  private width = 0;
  private indexMask = 0;
  /** How many entries the sketch is sized for. */
  capacity = 0;
  sampleSize = 0;
  private readonly sampleFactor: number;
  private additions = 0;
  private doorkeeperAdditions = 0;
  /** How many times the counters have been halved (for tests and stats). */
  resets = 0;

  /**
   * `expectedEntries`: how many keys the cache holds; the sketch is sized and aged by it.
   * `sampleFactor`: the counters halve every `sampleFactor` x `expectedEntries` counted sightings.
   */
  constructor(expectedEntries: number, sampleFactor = FrequencySketch.DEFAULT_SAMPLE_FACTOR) {
    this.sampleFactor = sampleFactor;
    this.ensureCapacity(expectedEntries);
  }

  /**
   * The paper's 10 x entries ages counts so fast that keys near the admission boundary (about one
   * lookup per period under Zipf) cannot be told apart; 32 x measured best in bench/ for a sketch
   * that is aged on its period alone.
   */
  static readonly DEFAULT_SAMPLE_FACTOR = 32;

  /**
   * Resizes the sketch for a cache that holds more than it was sized for (a byte-capped cache
   * learns its entry count only as it fills), as Caffeine does; the counts start over.
   */
  ensureCapacity(expectedEntries: number): void {
    const entries = Math.max(16, Math.min(expectedEntries, 1 << 24));
    if (entries <= this.capacity) return;
    this.capacity = entries;
    // Eight counters per row per entry keeps collisions rare at the cache's size (32 KiB of
    // counters per 1000 entries); half that cost about 0.3 points of hit ratio in bench/.
    let width = 1;
    while (width < entries * 8) width <<= 1;
    width = Math.max(width, 256);
    this.indexMask = width - 1;
    this.width = width;
    this.table = new Uint8Array(width * 4);
    this.words = new Uint32Array(this.table.buffer);
    this.sampleSize = this.sampleFactor * entries;
    // The doorkeeper sees at most sampleSize keys between clears; 8 bits per key keeps its false
    // positives near 1% with two probes (sampleFactor bytes per cached entry).
    let bits = 1;
    while (bits < this.sampleSize * 8) bits <<= 1;
    bits = Math.max(bits, 1024);
    this.doorkeeperMask = bits - 1;
    this.doorkeeper = new Uint32Array(bits >>> 5);
    this.additions = 0;
    this.doorkeeperAdditions = 0;
  }

  /** FNV-1a over UTF-16 code units, then murmur3's finalizer so the low bits are well mixed. */
  static hash(key: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  /** Two bit positions per key, from the hash's two halves (mixed again for the second). */
  private inDoorkeeper(hash: number): boolean {
    const a = hash & this.doorkeeperMask;
    const b = Math.imul(hash ^ (hash >>> 16), 0x45d9f3b) & this.doorkeeperMask;
    const d = this.doorkeeper;
    return ((d[a >>> 5]! >>> (a & 31)) & 1) === 1 && ((d[b >>> 5]! >>> (b & 31)) & 1) === 1;
  }

  private addToDoorkeeper(hash: number): void {
    const a = hash & this.doorkeeperMask;
    const b = Math.imul(hash ^ (hash >>> 16), 0x45d9f3b) & this.doorkeeperMask;
    const d = this.doorkeeper;
    d[a >>> 5] = d[a >>> 5]! | (1 << (a & 31));
    d[b >>> 5] = d[b >>> 5]! | (1 << (b & 31));
  }

  /**
   * The counters alone: the minimum of the key's four counters. Adding the doorkeeper's bit (as the
   * paper does) favours whatever was seen since the last clear over an entry last used before it,
   * and that bias alone made a cyclic sweep churn; dropping every key's first sighting per period
   * is symmetric.
   */
  estimate(hash: number): number {
    const step = (Math.imul(hash, 0x9e3779b1) >>> 15) | 1;
    const mask = this.indexMask;
    const width = this.width;
    const table = this.table;
    return Math.min(
      table[hash & mask]!,
      table[width + ((hash + step) & mask)]!,
      table[2 * width + ((hash + 2 * step) & mask)]!,
      table[3 * width + ((hash + 3 * step) & mask)]!,
    );
  }

  /**
   * Conservative update: only the counters at the current minimum grow, which keeps the
   * overestimate of a colliding key small.
   */
  increment(hash: number): void {
    if (!this.inDoorkeeper(hash)) {
      this.addToDoorkeeper(hash);
      // A crawl of one-hit keys must not age everyone else's counts faster, so only counted
      // sightings advance the sample; the doorkeeper is cleared on its own when it fills up.
      if (++this.doorkeeperAdditions >= this.sampleSize) this.clearDoorkeeper();
      return;
    }
    if (++this.additions >= this.sampleSize) this.halve();
    const step = (Math.imul(hash, 0x9e3779b1) >>> 15) | 1;
    const mask = this.indexMask;
    const width = this.width;
    const table = this.table;
    const i0 = hash & mask;
    const i1 = width + ((hash + step) & mask);
    const i2 = 2 * width + ((hash + 2 * step) & mask);
    const i3 = 3 * width + ((hash + 3 * step) & mask);
    const c0 = table[i0]!,
      c1 = table[i1]!,
      c2 = table[i2]!,
      c3 = table[i3]!;
    const min = Math.min(c0, c1, c2, c3);
    if (min < FrequencySketch.MAX_COUNT) {
      if (c0 === min) table[i0] = min + 1;
      if (c1 === min) table[i1] = min + 1;
      if (c2 === min) table[i2] = min + 1;
      if (c3 === min) table[i3] = min + 1;
    }
  }

  /**
   * Ageing: every counter halves (four bytes per word shift right; the mask drops the bit each
   * byte would take from its neighbour). Runs every `sampleSize` counted sightings, and whenever
   * the owner sees popularity move.
   */
  halve(): void {
    const words = this.words;
    for (let i = 0; i < words.length; i++) words[i] = (words[i]! >>> 1) & 0x7f7f7f7f;
    this.clearDoorkeeper();
    this.additions = this.additions >>> 1;
    this.resets++;
  }

  private clearDoorkeeper(): void {
    this.doorkeeper.fill(0);
    this.doorkeeperAdditions = 0;
  }

  clear(): void {
    this.table.fill(0);
    this.doorkeeper.fill(0);
    this.additions = 0;
  }
}
