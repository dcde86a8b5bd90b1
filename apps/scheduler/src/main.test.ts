import { describe, expect, it } from 'vitest';
import { spawnScheduler } from './testing/child-scheduler.ts';

describe('the scheduler process', () => {
  it.each([
    [
      'SCHEDULER_PARALLELISM',
      '0',
      'SCHEDULER_PARALLELISM: must be a whole number from 1 to 4096; got \\"0\\"',
    ],
    [
      'SCHEDULER_DAG_CACHE_SIZE',
      '-1',
      'SCHEDULER_DAG_CACHE_SIZE: must be a whole number from 0 to 10000000',
    ],
    [
      'LOG_LEVEL',
      'loud',
      'LOG_LEVEL: must be trace, debug, info, warn, error, fatal, silent; got \\"loud\\"',
    ],
    ['DATABASE_POOL_MAX', '0', 'DATABASE_POOL_MAX: must be a whole number from 1 to 1000'],
  ])(
    'stops at start with exit code 2 when %s is %s, naming the variable and the range',
    async (variable, value, message) => {
      const child = await spawnScheduler({
        [variable]: value,
        DATABASE_URL: 'postgresql://unused:1/none',
      });
      const { code } = await child.exited;
      expect(code).toBe(2);
      expect(child.output()).toContain(message);
    },
  );
});
