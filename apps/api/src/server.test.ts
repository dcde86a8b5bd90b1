import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import {
  createTestDatabase,
  embeddedServerRunningIn,
  stopEmbeddedServerIn,
  type TestDatabase,
} from '@dagbag/db/testing';
import { silentLogger } from '@dagbag/logger';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from './server.ts';
import { freePort } from '@dagbag/config/testing/free-port';
import { PROCESS_TEST_TIMEOUT_MS, spawnTsx } from '@dagbag/config/testing/spawn-tsx';
import { startApiProcess } from './testing/api-process.ts';

describe('graceful close', () => {
  it('lets an in-flight request finish, then stops listening', async () => {
    const app = express();
    app.get('/slow', (_req, res) => void setTimeout(() => res.json({ done: true }), 300));
    const running = await startServer(app, { host: '127.0.0.1', port: 0, logger: silentLogger });
    const inFlight = fetch(`${running.url}/slow`).then(async (response) => ({
      status: response.status,
      body: await response.json(),
    }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = running.close(5000);
    expect(await inFlight).toEqual({ status: 200, body: { done: true } });
    await closed;
    await expect(fetch(`${running.url}/slow`)).rejects.toThrow();
  });

  it('cuts requests that outlive the shutdown timeout', async () => {
    const app = express();
    app.get('/stuck', () => undefined);
    const running = await startServer(app, { host: '127.0.0.1', port: 0, logger: silentLogger });
    const stuck = fetch(`${running.url}/stuck`).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await running.close(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await stuck).toBeInstanceOf(Error);
  });
});

describe('the API process (src/main.ts)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it(
    'stops at start with exit code 2 and a message naming a bad variable and its range',
    async () => {
      const { code, output } = await runApi({
        LOG_LEVEL: 'info',
        API_PORT: '70000',
        API_DAG_CACHE_MAX_BYTES: '-5',
      });
      expect(code, output).toBe(2);
      expect(output).toContain('API_PORT: must be a whole number from 0 to 65535');
      expect(output).not.toContain('telemetry started');
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  /** Runs src/main.ts with `env` until it exits: its exit code and its output, colours removed. */
  async function runApi(env: Record<string, string>) {
    const child = spawnTsx('src/main.ts', { cwd: join(import.meta.dirname, '..'), env });
    const { code } = await child.exited;
    return { code, output: stripVTControlCharacters(child.output()) };
  }

  it(
    'says a bad setting in one readable line naming the variable and the fix when LOG_FORMAT=pretty',
    async () => {
      const { code, output } = await runApi({
        LOG_FORMAT: 'pretty',
        LOG_LEVEL: 'info',
        API_DAG_CACHE_SIZE: '-1',
      });
      expect(code, output).toBe(2);
      expect(output.trim().split('\n')).toEqual([
        expect.stringMatching(
          /FATAL \(api\): the API could not start: API_DAG_CACHE_SIZE: must be a whole number from 0 to 10000000; got "-1"\. Fix: set API_DAG_CACHE_SIZE to an accepted value, or unset it for the default \(4096\)\.$/,
        ),
      ]);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'says any other start failure in one readable line with its cause, no stack, exit code 1',
    async () => {
      const { code, output } = await runApi({
        LOG_FORMAT: 'pretty',
        LOG_LEVEL: 'info',
        DATABASE_URL: `postgresql://nobody@127.0.0.1:${await freePort()}/none`,
        API_AUTH_TOKENS: 'test-token-0123456789abcdef',
        METRICS_PORT: String(await freePort()),
      });
      expect(code, output).toBe(1);
      expect(output.trim().split('\n').at(-1)).toMatch(
        /FATAL \(api\): the API could not start: .*ECONNREFUSED/,
      );
      expect(output).not.toMatch(/^\s+at /m);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it('stopped while it starts its embedded PostgreSQL, stops that server too and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dagbag-api-start-'));
    chmodSync(dataDir, 0o755);
    try {
      const child = spawnTsx('src/main.ts', {
        cwd: join(import.meta.dirname, '..'),
        env: {
          LOG_LEVEL: 'info',
          LOG_FORMAT: 'json',
          DATABASE_URL: '',
          DATA_DIR: dataDir,
          EMBEDDED_POSTGRES_PORT: String(await freePort()),
          API_PORT: '0',
          API_AUTH_TOKENS: 'test-token-0123456789abcdef',
          METRICS_PORT: String(await freePort()),
        },
      });
      // SIGTERM while the embedded server initialises, before the API listens. Before, the
      // process ended alone there and its embedded PostgreSQL ran on.
      const deadline = Date.now() + 120_000;
      while (!child.output().includes('initialising embedded PostgreSQL') && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      child.process.kill('SIGTERM');
      expect((await child.exited).code, child.output().slice(-3000)).toBe(0);
      expect(child.output()).not.toContain('REST API listening');
      expect(await embeddedServerRunningIn(dataDir)).toBe(false);
    } finally {
      await stopEmbeddedServerIn(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it(
    'starts with a generated development token, serves with it, and exits 0 on SIGTERM',
    async () => {
      const dataDirectory = mkdtempSync(join(tmpdir(), 'dagbag-api-main-'));
      const { child, startLine: listening } = await startApiProcess({
        DATABASE_URL: db.url,
        DATA_DIR: dataDirectory,
        API_AUTH_TOKENS: '',
      });

      // One start line lists every setting in effect (the GC headroom default applied at start
      // included), with the database password and the tokens redacted.
      expect(listening.settings).toMatchObject({
        API_GC_HEADROOM_PERCENT: 25,
        API_DAG_CACHE_SIZE: 4096,
        DATABASE_POOL_MAX: 10,
        DATA_DIR: dataDirectory,
        API_AUTH_TOKENS: '[redacted] (0)',
      });
      expect(new URL(String(listening.settings.DATABASE_URL)).password).toBe('%5Bredacted%5D');
      const tokenFile = join(dataDirectory, 'api-token');
      const token = readFileSync(tokenFile, 'utf8').trim();
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      // 'generated from' before, for a token just written there.
      expect(child.output()).toContain(
        `development bearer token generated into ${tokenFile}: ${token}`,
      );
      expect((await fetch(`${listening.url}/api/v2/dags`)).status).toBe(401);
      const response = await fetch(`${listening.url}/api/v2/dags`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      const requestId = response.headers.get('x-request-id');
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);

      child.process.kill('SIGTERM');
      expect((await child.exited).code, child.output()).toBe(0);
      // The request log carries the request id and never the token.
      const requestLines = child
        .output()
        .split('\n')
        .filter((line) => line.includes('"req"'));
      expect(requestLines.length).toBeGreaterThanOrEqual(2);
      expect(requestLines.join('\n')).not.toContain(token);
      expect(requestLines.join('\n')).toContain(`"id":"${requestId}"`);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
