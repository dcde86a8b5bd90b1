import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Flight } from './flight.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A WeakRef's target is kept until the current job ends; a macrotask later it can go. */
const nextTask = () => new Promise((resolve) => setImmediate(resolve));

describe('Flight', () => {
  it('hands its outcome to every lookup that joined it', async () => {
    const flight = new Flight<string>(0);
    const first = flight.promise;
    const joined = flight.promise;
    flight.resolve('loaded');
    expect(await Promise.all([first, joined])).toEqual(['loaded', 'loaded']);
  });

  it('hands its error to its lookups', async () => {
    const flight = new Flight<string>(0);
    const waiter = flight.promise;
    flight.reject(new Error('database down'));
    await expect(waiter).rejects.toThrow('database down');
  });

  it('keeps nothing of its outcome once settled, while something still holds the flight', async () => {
    // What a Map's old backing table does to a deleted flight (see flight.ts).
    const flight = new Flight<{ rows: number[] }>(0);
    const { outcome, waited } = (() => {
      const value = { rows: [1, 2, 3] };
      const waiter = flight.promise.then((settled) => settled.rows.length);
      flight.resolve(value);
      return { outcome: new WeakRef(value), waited: waiter };
    })();
    expect(await waited).toBe(3);
    await nextTask();
    gc();
    expect(outcome.deref()).toBeUndefined();
    expect(() => flight.promise).toThrow('a settled flight cannot be joined');
  });
});
