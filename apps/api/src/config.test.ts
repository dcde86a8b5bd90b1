import { join } from 'node:path';
import { ConfigError } from '@dagbag/config';
import { modulesLoadedBy } from '@dagbag/config/testing/loaded-modules';
import { instrumentedPackageOf } from '@dagbag/telemetry';
import { describe, expect, it } from 'vitest';
import { API_OWN_SETTINGS, API_SETTING_DESCRIPTORS, readApiConfig } from './config.ts';

describe('API configuration', () => {
  it('loads none of the packages telemetry patches (main imports it before telemetry starts)', async () => {
    const loaded = await modulesLoadedBy(join(import.meta.dirname, 'config.ts'));
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((url) => instrumentedPackageOf(url))).toEqual([]);
  }, 60_000);

  it('has documented defaults: 127.0.0.1:8080, 1 MiB bodies, no tokens (development token)', () => {
    expect(readApiConfig({})).toMatchObject({
      API_HOST: '127.0.0.1',
      API_PORT: 8080,
      API_AUTH_TOKENS: [],
      API_BODY_LIMIT_BYTES: 1_048_576,
      API_SHUTDOWN_TIMEOUT_MS: 10_000,
      API_LISTING_CACHE_MAX_BYTES: 8_388_608,
      METRICS_PORT: 9464,
    });
  });

  it('reads comma-separated tokens', () => {
    const [one, two, three] = ['1', '2', '3'].map((n) => n.repeat(16));
    expect(
      readApiConfig({ API_AUTH_TOKENS: `${one}, alice:${two},,${three}` }).API_AUTH_TOKENS,
    ).toEqual([one, `alice:${two}`, three]);
  });

  it('refuses a token shorter than 16 characters, naming its entry but never the token', () => {
    const read = () => readApiConfig({ API_AUTH_TOKENS: `${'k'.repeat(16)},alice:hunter2` });
    expect(read).toThrowError(ConfigError);
    expect(read).toThrowError(
      /API_AUTH_TOKENS: entry 2 \(alice\) has a token of 7 characters; each must have at least 16/,
    );
    expect(read).not.toThrowError(/hunter2/);
  });

  it.each([
    ['API_PORT', '70000'],
    ['API_PORT', '-1'],
    ['API_BODY_LIMIT_BYTES', '12'],
    ['API_BODY_LIMIT_BYTES', '1.5'],
    ['API_HOST', 'bad host!'],
    ['API_BODY_MAX_DEPTH', '0'],
    ['API_BODY_MAX_DEPTH', '1000'],
    ['API_HEADERS_TIMEOUT_MS', '10'],
    ['API_REQUEST_TIMEOUT_MS', 'soon'],
    ['API_LISTING_CACHE_MAX_BYTES', '-1'],
    ['API_LISTING_CACHE_MAX_BYTES', '2147483648'],
  ])('stops at start on %s=%j, naming the variable and the accepted range', (variable, value) => {
    try {
      readApiConfig({ [variable]: value });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((problem) => problem.variable)).toEqual([
        variable,
      ]);
      expect((error as ConfigError).message).toContain(JSON.stringify(value));
    }
  });

  it('stops at start when the headers timeout exceeds the request timeout, naming both', () => {
    expect(() =>
      readApiConfig({ API_HEADERS_TIMEOUT_MS: '30000', API_REQUEST_TIMEOUT_MS: '20000' }),
    ).toThrow(/API_HEADERS_TIMEOUT_MS: must not exceed API_REQUEST_TIMEOUT_MS \(20000\)/);
  });

  it('describes every variable (default, accepted values, meaning) for the README table', () => {
    expect(API_SETTING_DESCRIPTORS.map((row) => row.variable)).toEqual(
      Object.keys(API_OWN_SETTINGS),
    );
    for (const row of API_SETTING_DESCRIPTORS) {
      expect(row.description, row.variable).toBeTruthy();
      expect(row.default, row.variable).toBeTruthy();
    }
  });
});
