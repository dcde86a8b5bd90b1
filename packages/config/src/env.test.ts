import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  SHARED_SETTINGS,
  booleanSetting,
  describeSettings,
  integerSetting,
  listSetting,
  optionalStringSetting,
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

describe('path settings', () => {
  const shape = { DATA_DIR: optionalStringSetting({ path: true }) };

  it('resolve a relative path against the folder pnpm was started from, not the package', () => {
    // `DATA_DIR=.prod pnpm --filter @dagbag/api start` runs in apps/api, with INIT_CWD the root.
    expect(readConfig(shape, { DATA_DIR: '.prod', INIT_CWD: '/srv/dagbag' }).DATA_DIR).toBe(
      '/srv/dagbag/.prod',
    );
    expect(readConfig(shape, { DATA_DIR: '/var/lib/dagbag', INIT_CWD: '/srv' }).DATA_DIR).toBe(
      '/var/lib/dagbag',
    );
    expect(readConfig(shape, { DATA_DIR: 'rel' }).DATA_DIR).toBe(resolve('rel'));
    expect(readConfig(shape, {}).DATA_DIR).toBeUndefined();
  });

  it('make DATA_DIR one folder for every app started from one place', () => {
    const env = { DATA_DIR: 'data', INIT_CWD: '/srv/dagbag' };
    expect(readConfig(SHARED_SETTINGS, env).DATA_DIR).toBe(join('/srv/dagbag', 'data'));
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
