import { describe, expect, it } from 'vitest';
import { numberParam } from './schemas.ts';

describe('numberParam', () => {
  it('reads the decimal forms FastAPI reads as a float, and nothing else', () => {
    for (const [text, value] of [
      ['1', 1],
      ['-2', -2],
      ['0.5', 0.5],
      ['1.', 1],
      ['.5', 0.5],
      ['1e3', 1000],
      ['+1.5E-1', 0.15],
    ] as const)
      expect(numberParam.parse(text), text).toBe(value);
    for (const text of ['', ' ', '.', '0x10', '1e', 'e3', '1.2.3', '--1', 'NaN', 'Infinity'])
      expect(numberParam.safeParse(text).success, text).toBe(false);
  });

  it('refuses a long run of digits in linear time, so one query cannot stall the API', () => {
    // Each split of the digits between two `\d` runs was tried: quadratic in their number.
    const text = `${'1'.repeat(100_000)}x`;
    const started = performance.now();
    expect(numberParam.safeParse(text).success).toBe(false);
    // Linear: well under a millisecond of matching; quadratic: tens of seconds.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
