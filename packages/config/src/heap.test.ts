import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { applyGcHeadroom, gcHeadroomSetting } from './heap.ts';

const run = promisify(execFile);

async function churn(headroom: string): Promise<{ peak: number; liveAfter: number }> {
  const { stdout } = await run(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      join(import.meta.dirname, 'testing', 'heap-churn.ts'),
      headroom,
    ],
    {
      cwd: import.meta.dirname,
    },
  );
  return JSON.parse(stdout) as { peak: number; liveAfter: number };
}

describe('GC headroom', () => {
  it('keeps the peak heap near the live heap when set, where V8 on its own lets garbage pile up', async () => {
    const [bounded, heuristics] = await Promise.all([churn('25'), churn('none')]);
    const boundedRatio = bounded.peak / bounded.liveAfter;
    const heuristicsRatio = heuristics.peak / heuristics.liveAfter;
    // 25 % of the old generation plus a full young generation (up to 64 MB) on ~240 MB live.
    expect(boundedRatio).toBeLessThan(2);
    expect(heuristicsRatio).toBeGreaterThan(boundedRatio * 1.3);
  }, 60_000);

  it('refuses a percent outside 0 to 300, naming the range', () => {
    expect(() => applyGcHeadroom(-1)).toThrow(/from 0 to 300; got -1/);
    expect(() => applyGcHeadroom(2.5)).toThrow(/whole number/);
  });

  it('defaults to 25 % and documents 0 as V8 heuristics', () => {
    expect(gcHeadroomSetting().parse(undefined)).toBe(25);
    expect(gcHeadroomSetting().parse('0')).toBe(0);
    expect(() => gcHeadroomSetting().parse('301')).toThrow(/0 to 300/);
  });
});
