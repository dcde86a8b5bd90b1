import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { embeddedServerRunningIn, stopEmbeddedServerIn } from '@dagbag/db/testing';
import { freePort, spawnScheduler } from './testing/child-scheduler.ts';

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

  it('says a bad setting in one readable line naming the variable and the fix when LOG_FORMAT=pretty', async () => {
    const child = await spawnScheduler({
      LOG_FORMAT: 'pretty',
      SCHEDULER_PARALLELISM: '0',
      DATABASE_URL: 'postgresql://unused:1/none',
    });
    expect((await child.exited).code).toBe(2);
    const lines = stripVTControlCharacters(child.output()).trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        /FATAL \(scheduler\): the scheduler could not start: SCHEDULER_PARALLELISM: must be a whole number from 1 to 4096; got "0"\. Fix: set SCHEDULER_PARALLELISM to an accepted value, or unset it for the default \(16\)\.$/,
      ),
    ]);
  });

  it('reads LOG_FORMAT leniently to report a bad LOG_FORMAT: Pretty gives a readable line', async () => {
    const child = await spawnScheduler({
      LOG_FORMAT: ' Pretty',
      DATABASE_URL: 'postgresql://unused:1/none',
    });
    expect((await child.exited).code).toBe(2);
    const lines = stripVTControlCharacters(child.output()).trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        /FATAL \(scheduler\): .*LOG_FORMAT: must be json or pretty; got " Pretty"/,
      ),
    ]);
  });

  it('with LOG_FORMAT=json, writes one JSON line per bad variable, naming it, without a stack', async () => {
    const child = await spawnScheduler({
      LOG_FORMAT: 'json',
      SCHEDULER_PARALLELISM: '0',
      SCHEDULER_DAG_CACHE_SIZE: '-1',
      DATABASE_URL: 'postgresql://unused:1/none',
    });
    expect((await child.exited).code).toBe(2);
    const lines = child
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.level, line.variable])).toEqual([
      [60, 'SCHEDULER_PARALLELISM'],
      [60, 'SCHEDULER_DAG_CACHE_SIZE'],
    ]);
    expect(lines[1]!.msg).toContain('Fix: set SCHEDULER_DAG_CACHE_SIZE to an accepted value');
    expect(child.output()).not.toContain('stack');
  });

  it('stopped while it starts its embedded PostgreSQL, stops that server too and exits 0', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dagbag-scheduler-start-'));
    await chmod(dataDir, 0o755);
    const dagsFolder = await mkdtemp(join(tmpdir(), 'dagbag-scheduler-dags-'));
    try {
      const child = await spawnScheduler({
        DATA_DIR: dataDir,
        DAGS_FOLDER: dagsFolder,
        EMBEDDED_POSTGRES_PORT: String(await freePort()),
        LOG_FORMAT: 'json',
      });
      // SIGTERM as soon as the server is up: during the migrations or the scheduler's
      // registration, before it runs. Before, the process ended alone there.
      const deadline = Date.now() + 120_000;
      while (!child.output().includes('embedded PostgreSQL is up') && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      child.process.kill('SIGTERM');
      expect((await child.exited).code, child.output().slice(-3000)).toBe(0);
      expect(child.output()).not.toContain('"msg":"scheduler started"');
      expect(await embeddedServerRunningIn(dataDir)).toBe(false);
    } finally {
      await stopEmbeddedServerIn(dataDir);
      await rm(dataDir, { recursive: true, force: true });
      await rm(dagsFolder, { recursive: true, force: true });
    }
  }, 180_000);
});
