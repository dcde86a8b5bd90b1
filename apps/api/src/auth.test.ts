import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, loadOrCreateDevelopmentToken } from './auth.ts';
import { startTestApi, TEST_TOKEN, type TestApi } from './testing/harness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(() => api.close());

/** A concrete URL for a documented path: `{dag_id}` -> `example`, `{try_number}` -> `1`. */
function concretePath(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, (_, name: string) =>
    name.endsWith('number') ? '1' : 'example',
  );
}

/** Paths Airflow 3 serves without authentication. */
const OPEN_PATHS = ['/api/v2/monitor/health', '/api/v2/version'];

describe('bearer-token authentication', () => {
  it('answers 401 with a Bearer challenge on every route but health and version when no token is sent', async () => {
    const protectedRoutes = api.app.routes.filter((route) => !OPEN_PATHS.includes(route.path));
    expect(protectedRoutes.length).toBeGreaterThan(15);
    for (const route of protectedRoutes) {
      const response = await api.request(concretePath(route.path), {
        method: route.method.toUpperCase(),
        token: null,
        json: route.body ? {} : undefined,
      });
      expect(response.status, `${route.method} ${route.path}`).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.json()).toEqual({ detail: 'Not authenticated' });
    }
  });

  it('answers 401 on every route but health and version when the token is wrong', async () => {
    for (const route of api.app.routes.filter((r) => !OPEN_PATHS.includes(r.path))) {
      const response = await api.request(concretePath(route.path), {
        method: route.method.toUpperCase(),
        token: `${TEST_TOKEN}x`,
      });
      expect(response.status, `${route.method} ${route.path}`).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
  });

  it('answers 401 for an unknown path too, so that paths cannot be probed without a token', async () => {
    expect((await api.request('/api/v2/nothing-here', { token: null })).status).toBe(401);
  });

  it('refuses a token sent with another scheme', async () => {
    const response = await api.request('/api/v2/dags', {
      token: null,
      headers: { authorization: `Basic ${TEST_TOKEN}` },
    });
    expect(response.status).toBe(401);
  });

  it('serves health without any token', async () => {
    expect((await api.request('/api/v2/monitor/health', { token: null })).status).toBe(200);
  });

  it('serves health without a token when the path ends in a slash too', async () => {
    expect((await api.request('/api/v2/monitor/health/', { token: null })).status).toBe(200);
  });

  it('serves the version without any token, as Airflow 3 does', async () => {
    const response = await api.request('/api/v2/version', { token: null });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ version: expect.any(String) });
  });

  it('serves without a token exactly the routes the README marks "no auth"', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const documented = readme
      .split('\n')
      .filter((line) => line.startsWith('| GET') && line.includes('| no auth'))
      .map((line) => /`([^`]+)`/.exec(line)![1]);
    const open = api.app.routes.filter((route) => route.auth === false).map((route) => route.path);
    expect(documented.sort()).toEqual(open.sort());
    expect(open.sort()).toEqual([...OPEN_PATHS].sort());
  });

  it('accepts the configured token', async () => {
    expect((await api.request('/api/v2/dags')).status).toBe(200);
  });
});

describe('the token verifier', () => {
  it('accepts any of several configured tokens and nothing else', () => {
    const verify = createTokenVerifier(['first-token', 'second-token']);
    expect(verify('first-token')).toMatch(/^token:[0-9a-f]{12}$/);
    expect(verify('second-token')).toMatch(/^token:[0-9a-f]{12}$/);
    expect(verify('first-token')).not.toBe(verify('second-token'));
    expect(verify('first-toke')).toBeUndefined();
    expect(verify('')).toBeUndefined();
  });

  it('names the caller of a name:token entry, accepting only the token part', () => {
    const verify = createTokenVerifier(['ops-bot:s3cret-token-value', 'bare-token-value']);
    expect(verify('s3cret-token-value')).toBe('ops-bot');
    expect(verify('ops-bot:s3cret-token-value')).toBeUndefined();
    const fingerprint = verify('bare-token-value');
    expect(fingerprint).toMatch(/^token:[0-9a-f]{12}$/);
    expect(fingerprint).not.toContain('bare-token-value');
  });

  it('refuses to run with no token at all', () => {
    expect(() => createTokenVerifier([])).toThrow(/at least one/);
  });
});

describe('the development token', () => {
  it('is generated into DATA_DIR/api-token readable by the owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagbag-token-'));
    const { token, path, created } = loadOrCreateDevelopmentToken(dir);
    expect(created).toBe(true);
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(path, 'utf8').trim()).toBe(token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('is reused on the next start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagbag-token-'));
    const first = loadOrCreateDevelopmentToken(dir);
    const second = loadOrCreateDevelopmentToken(dir);
    expect(second).toEqual({ ...first, created: false });
  });
});
