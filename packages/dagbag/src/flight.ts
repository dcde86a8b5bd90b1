/**
 * One load of one key, shared by every lookup of that key while it runs (the DagBag keeps its
 * flights in a Map by key).
 *
 * Settling a flight also lets go of its promise and its resolvers, so that a settled flight holds
 * nothing of what it was settled with. A Map does not forget a deleted value at once: when it grows
 * or sheds its deleted entries, V8 copies it into a new backing table and leaves the old table
 * pointing at the new one, with its own entries as they were (for iterators that are still
 * walking it). A young-generation collection treats an old table that has reached the old
 * generation as live, so it keeps whatever the old table's entries reference until the next full
 * collection, and it promotes it there. A flight that kept its promise kept the loaded entry (its
 * DAG, its rendered bytes) and V8 promoted every miss of a crawl with eight requests in flight:
 * ~19 % of what a miss allocated outlived its young collection instead of ~4 %
 * (apps/api/bench/RESULTS.md, seventh round).
 */
export class Flight<T> {
  /** Set by invalidate()/clear(): the result is returned to its waiters but not admitted. */
  cancelled = false;
  readonly started: number;
  #promise: Promise<T> | undefined;
  #resolve: ((value: T) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;

  constructor(started: number) {
    this.started = started;
    this.#promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /**
   * The outcome, for the lookup that starts the flight and those that join it while it runs. A
   * settled flight has left its map first, so nobody joins it.
   */
  get promise(): Promise<T> {
    if (this.#promise === undefined) throw new Error('a settled flight cannot be joined');
    return this.#promise;
  }

  resolve(value: T): void {
    const resolve = this.#resolve;
    this.#release();
    resolve?.(value);
  }

  reject(error: unknown): void {
    const reject = this.#reject;
    this.#release();
    reject?.(error);
  }

  #release(): void {
    this.#promise = undefined;
    this.#resolve = undefined;
    this.#reject = undefined;
  }
}
