import { describe, expect, it } from 'vitest';
import { isExactNumber, parseJsonBody } from './json-body.ts';

describe('JSON body numbers', () => {
  it('tells a number kept exactly from one that is not, trailing zeros included', () => {
    expect(isExactNumber('1000')).toBe(true);
    expect(isExactNumber('1.500e3')).toBe(true);
    expect(isExactNumber('0.000')).toBe(true);
    expect(isExactNumber('12345678901234567890')).toBe(false);
    expect(isExactNumber('1e400')).toBe(false);
  });

  it('reads a body with a long number in linear time, so one request cannot stall the API', () => {
    // 1, 200,000 zeros, 1, then an exponent that brings it back to about 10: a finite double.
    // A backtracking /0+$/ took tens of seconds on it, holding every other request meanwhile.
    const zeros = 200_000;
    const body = Buffer.from(`{"conf":{"x":1${'0'.repeat(zeros)}1e-${zeros}}}`, 'utf8');
    const started = performance.now();
    expect(() => parseJsonBody(body, 32)).toThrowError('Validation error');
    // Linear: a few milliseconds even on a loaded machine; quadratic: over 20 s.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
