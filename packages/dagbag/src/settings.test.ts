import { describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from '@dagbag/config';
import {
  cacheSettingsFrom,
  cacheSettingsShape,
  defaultCacheSettings,
  type CacheRole,
} from './settings.ts';

function fromEnv(role: CacheRole, env: Record<string, string>) {
  return cacheSettingsFrom(role, readConfig(cacheSettingsShape(role), env));
}

describe('cacheSettingsShape', () => {
  it('gives the documented defaults of each role', () => {
    expect(fromEnv('api', {})).toMatchObject({
      maxEntries: 4096,
      maxBytes: 268_435_456,
      ttlSeconds: 3600,
      revalidateSeconds: 30,
    });
    expect(fromEnv('scheduler', {})).toMatchObject({
      maxEntries: 0,
      maxBytes: 1_073_741_824,
      ttlSeconds: 10_800,
      revalidateSeconds: 30,
    });
  });

  it("reads only the role's own variables", () => {
    const env = {
      API_DAG_CACHE_SIZE: '10',
      SCHEDULER_DAG_CACHE_SIZE: '20',
      SCHEDULER_DAG_CACHE_TTL: '0',
      DAG_CACHE_REVALIDATE_SECONDS: '5',
    };
    expect(fromEnv('api', env)).toMatchObject({
      maxEntries: 10,
      ttlSeconds: 3600,
      revalidateSeconds: 5,
    });
    expect(fromEnv('scheduler', env)).toMatchObject({
      maxEntries: 20,
      ttlSeconds: 0,
      revalidateSeconds: 5,
    });
  });

  it.each([
    ['API_DAG_CACHE_SIZE', '-1'],
    ['API_DAG_CACHE_MAX_BYTES', '1.5'],
    ['API_DAG_CACHE_TTL', '99999999999'],
    ['DAG_CACHE_REVALIDATE_SECONDS', 'soon'],
  ])('refuses %s=%s naming the variable and the range', (variable, raw) => {
    try {
      fromEnv('api', { [variable]: raw });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(
        new RegExp(`${variable}: must be a whole number from 0 to \\d+`),
      );
      expect((error as Error).message).toContain(JSON.stringify(raw));
    }
  });

  it('lists the cache variables of each role', () => {
    expect(Object.keys(cacheSettingsShape('api'))).toEqual([
      'API_DAG_CACHE_SIZE',
      'API_DAG_CACHE_MAX_BYTES',
      'API_DAG_CACHE_TTL',
      'DAG_CACHE_REVALIDATE_SECONDS',
    ]);
    expect(Object.keys(cacheSettingsShape('scheduler'))).toEqual([
      'SCHEDULER_DAG_CACHE_SIZE',
      'SCHEDULER_DAG_CACHE_MAX_BYTES',
      'SCHEDULER_DAG_CACHE_TTL',
      'DAG_CACHE_REVALIDATE_SECONDS',
    ]);
    expect(defaultCacheSettings('api')).toEqual(fromEnv('api', {}));
    expect(defaultCacheSettings('scheduler')).toEqual(fromEnv('scheduler', {}));
  });
});
