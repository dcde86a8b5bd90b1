import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  booleanSetting,
  describeSettings,
  integerSetting,
  listSetting,
  readConfig,
} from './index.ts';

const shape = {
  CACHE_SIZE: integerSetting({ default: 4096, min: 0, max: 1_000_000 }),
  VERBOSE: booleanSetting({ default: false }),
  TOKENS: listSetting(),
};

describe('readConfig', () => {
  it('uses the defaults when variables are unset or empty', () => {
    expect(readConfig(shape, { CACHE_SIZE: '' })).toEqual({
      CACHE_SIZE: 4096,
      VERBOSE: false,
      TOKENS: [],
    });
  });

  it('parses integers, booleans and comma-separated lists', () => {
    expect(readConfig(shape, { CACHE_SIZE: '12', VERBOSE: 'yes', TOKENS: 'a, b,,c' })).toEqual({
      CACHE_SIZE: 12,
      VERBOSE: true,
      TOKENS: ['a', 'b', 'c'],
    });
  });

  it.each(['-1', '1.5', 'abc', '1000001', '1e3'])(
    'refuses %j naming the variable and the range',
    (bad) => {
      expect(() => readConfig(shape, { CACHE_SIZE: bad })).toThrowError(
        `CACHE_SIZE: must be a whole number from 0 to 1000000; got ${JSON.stringify(bad)}`,
      );
    },
  );

  it('reports every bad variable at once', () => {
    try {
      readConfig(shape, { CACHE_SIZE: '-1', VERBOSE: 'maybe' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.variable)).toEqual([
        'CACHE_SIZE',
        'VERBOSE',
      ]);
    }
  });
});

describe('describeSettings', () => {
  it('reads back the default, the accepted range and the description of each variable', () => {
    const documented = {
      CACHE_SIZE: integerSetting({
        default: 4096,
        min: 0,
        max: 10,
        meaning: '0 = no cap',
        description: 'max entries',
      }),
      TOKENS: listSetting({ description: 'bearer tokens' }),
    };
    expect(describeSettings(documented)).toEqual([
      {
        variable: 'CACHE_SIZE',
        default: '4096',
        accepted: '0–10 (0 = no cap)',
        description: 'max entries',
      },
      {
        variable: 'TOKENS',
        default: '(empty)',
        accepted: 'comma-separated list',
        description: 'bearer tokens',
      },
    ]);
  });
});
