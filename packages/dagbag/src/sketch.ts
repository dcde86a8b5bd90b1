/**
 * TinyLFU's frequency sketch: a count-min sketch of 4-bit counters (8 per 32-bit word, 4 rows)
 * that estimates how often a key was asked for recently, in about 4 bytes per cached entry.
 * After `sampleSize` increments every counter is halved, so old popularity fades and a key that
 * was hot yesterday cannot hold its place forever (Einziger, Friedman, Manes: "TinyLFU", 2017).
 *
 * A doorkeeper (a small Bloom filter, cleared at each halving) absorbs each key's first sighting,
 * so a crawl of one-hit keys does not fill the counters and inflate everyone's estimate.
 *
 * Keys are hashed once (`FrequencySketch.hash`) and the hash is kept with the cache entry, so a
 * hit costs four counter updates and no string hashing.
 */
export class FrequencySketch {
  static readonly MAX_COUNT = 15;
  private table!: Uint32Array;
  private doorkeeper!: Uint32Array;
  private doorkeeperMask = 0;
  private rowWords = 0;
  private indexMask = 0;
  /** How many entries the sketch is sized for. */
  capacity = 0;
  sampleSize = 0;
  private additions = 0;
  private doorkeeperAdditions = 0;
  /** How many times the counters have been halved (for tests and stats). */
  resets = 0;

  /** `expectedEntries`: how many keys the cache holds; the sketch is sized and aged by it. */
  constructor(expectedEntries: number) {
    this.ensureCapacity(expectedEntries);
  }

  /**
   * Resizes the sketch for a cache that holds more than it was sized for (a byte-capped cache
   * learns its entry count only as it fills), as Caffeine does; the counts start over.
   */
  ensureCapacity(expectedEntries: number): void {
    const entries = Math.max(16, Math.min(expectedEntries, 1 << 24));
    if (entries <= this.capacity) return;
    this.capacity = entries;
    // Eight counters per row per entry keeps collisions rare at the cache's size (16 KiB of
    // counters per 1000 entries); half that cost about 0.3 points of hit ratio in bench/.
    let width = 1;
    while (width < entries * 8) width <<= 1;
    width = Math.max(width, 256);
    this.indexMask = width - 1;
    this.rowWords = width >>> 3;
    this.table = new Uint32Array(this.rowWords * 4);
    // The paper's 10 x entries ages counts so fast that keys near the admission boundary (about
    // one lookup per period under Zipf) cannot be told apart; 32 x measured best in bench/.
    this.sampleSize = 32 * entries;
    // The doorkeeper sees at most sampleSize keys between clears; 8 bits per key keeps its false
    // positives near 1% with two probes.
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
    let min = FrequencySketch.MAX_COUNT;
    for (let row = 0; row < 4; row++) {
      const index = (hash + Math.imul(row, step)) & this.indexMask;
      const count = (this.table[row * this.rowWords + (index >>> 3)]! >>> ((index & 7) << 2)) & 0xf;
      if (count < min) min = count;
    }
    return min;
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
    const table = this.table;
    const rowWords = this.rowWords;
    const i0 = hash & mask;
    const i1 = (hash + step) & mask;
    const i2 = (hash + 2 * step) & mask;
    const i3 = (hash + 3 * step) & mask;
    const w0 = i0 >>> 3,
      w1 = rowWords + (i1 >>> 3),
      w2 = 2 * rowWords + (i2 >>> 3),
      w3 = 3 * rowWords + (i3 >>> 3);
    const s0 = (i0 & 7) << 2,
      s1 = (i1 & 7) << 2,
      s2 = (i2 & 7) << 2,
      s3 = (i3 & 7) << 2;
    const c0 = (table[w0]! >>> s0) & 0xf;
    const c1 = (table[w1]! >>> s1) & 0xf;
    const c2 = (table[w2]! >>> s2) & 0xf;
    const c3 = (table[w3]! >>> s3) & 0xf;
    const min = Math.min(c0, c1, c2, c3);
    if (min < FrequencySketch.MAX_COUNT) {
      if (c0 === min) table[w0] = table[w0]! + (1 << s0);
      if (c1 === min) table[w1] = table[w1]! + (1 << s1);
      if (c2 === min) table[w2] = table[w2]! + (1 << s2);
      if (c3 === min) table[w3] = table[w3]! + (1 << s3);
    }
  }

  /** Ageing: every counter halves (each 4-bit nibble shifts right; the mask drops carried bits). */
  private halve(): void {
    const table = this.table;
    for (let i = 0; i < table.length; i++) table[i] = (table[i]! >>> 1) & 0x77777777;
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
