import { describe, expect, it } from 'vitest';
import { FrequencySketch } from './sketch.ts';

describe('FrequencySketch', () => {
  it('estimates how often a key was seen, leaving the first sighting to the doorkeeper', () => {
    const sketch = new FrequencySketch(1000);
    const key = FrequencySketch.hash('version-a');
    expect(sketch.estimate(key)).toBe(0);
    for (let i = 0; i < 5; i++) sketch.increment(key);
    expect(sketch.estimate(key)).toBe(4);
    expect(sketch.estimate(FrequencySketch.hash('version-b'))).toBe(0);
  });

  it('counts past 15 and saturates at 255', () => {
    const sketch = new FrequencySketch(1000);
    const key = FrequencySketch.hash('hot');
    for (let i = 0; i < 101; i++) sketch.increment(key);
    expect(sketch.estimate(key)).toBe(100);
    for (let i = 0; i < 1000; i++) sketch.increment(key);
    expect(sketch.estimate(key)).toBe(255);
  });

  it('halves every counter on request without carrying bits between neighbours', () => {
    // 600 keys on 256 counters per row (no ageing on its own meanwhile): nearly every counter is
    // in use, so a bit carried from a neighbour would show in every row of many keys.
    const sketch = new FrequencySketch(16, 1000);
    const keys = Array.from({ length: 600 }, (_, i) => FrequencySketch.hash(`key-${i}`));
    keys.forEach((key, i) => {
      for (let n = 0; n <= 2 * (i % 7) + 1; n++) sketch.increment(key);
    });
    const before = keys.map((key) => sketch.estimate(key));
    sketch.halve();
    expect(keys.map((key) => sketch.estimate(key))).toEqual(before.map((n) => n >>> 1));
  });

  it('ages on the sample factor it is given', () => {
    expect(new FrequencySketch(1000).sampleSize).toBe(32_000);
    expect(new FrequencySketch(1000, 128).sampleSize).toBe(128_000);
  });

  it('halves every count after its sample size, so old popularity fades', () => {
    const sketch = new FrequencySketch(16);
    const hot = FrequencySketch.hash('hot');
    for (let i = 0; i < 9; i++) sketch.increment(hot);
    const before = sketch.estimate(hot);
    // Only repeated sightings advance the sample: a crawl of one-hit keys does not age anything.
    for (let i = 0; i < 10 * sketch.sampleSize; i++)
      sketch.increment(FrequencySketch.hash(`crawl-${i}`));
    expect(sketch.resets).toBe(0);
    for (let i = 0; sketch.resets === 0; i++) {
      sketch.increment(FrequencySketch.hash(`warm-${i}`));
      sketch.increment(FrequencySketch.hash(`warm-${i}`));
    }
    expect(before).toBe(8);
    expect(sketch.estimate(hot)).toBe(4);
  });

  it('keeps one-hit keys from inflating estimates of other keys', () => {
    const sketch = new FrequencySketch(1000);
    for (let i = 0; i < 5000; i++) sketch.increment(FrequencySketch.hash(`crawl-${i}`));
    let overestimated = 0;
    for (let i = 0; i < 1000; i++)
      if (sketch.estimate(FrequencySketch.hash(`never-${i}`)) > 0) overestimated++;
    expect(overestimated).toBeLessThan(10);
  });

  it('grows to a larger capacity on request, and never shrinks', () => {
    const sketch = new FrequencySketch(16);
    sketch.ensureCapacity(1000);
    expect(sketch.capacity).toBe(1000);
    expect(sketch.sampleSize).toBe(32_000);
    sketch.ensureCapacity(100);
    expect(sketch.capacity).toBe(1000);
  });
});
