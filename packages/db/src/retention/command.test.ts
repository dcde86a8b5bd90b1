import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/index.ts';
import { CleanUsageError, parseCleanArgs } from './command.ts';

describe('the db:clean command line', () => {
  it('reads a date as midnight UTC and a date-time with its offset', () => {
    const at = (raw: string) => {
      const request = parseCleanArgs(['--clean-before-timestamp', raw]);
      return request.help ? null : request.before.toISOString();
    };
    expect(at('2026-06-01')).toBe('2026-06-01T00:00:00.000Z');
    expect(at('2026-06-01T02:00:00+02:00')).toBe('2026-06-01T00:00:00.000Z');
    expect(at('2026-06-01 00:30Z')).toBe('2026-06-01T00:30:00.000Z');
  });

  it('refuses a timestamp without an offset, which would be read in no definite time zone', () => {
    expect(() => parseCleanArgs(['--clean-before-timestamp', '2026-06-01T00:00:00'])).toThrow(
      CleanUsageError,
    );
    expect(() => parseCleanArgs(['--clean-before-timestamp', 'last week'])).toThrow(
      /ISO 8601 date-time with its offset/,
    );
  });

  it('requires the timestamp, and refuses unknown options, tables and batch sizes', () => {
    expect(() => parseCleanArgs(['--dry-run'])).toThrow(/--clean-before-timestamp is required/);
    const with_ =
      (...more: string[]) =>
      () =>
        parseCleanArgs(['--clean-before-timestamp', '2026-06-01', ...more]);
    expect(with_('--force')).toThrow(CleanUsageError);
    expect(with_('--tables', 'dag_run,xcom')).toThrow(/one or more of dag_run, dag_version/);
    expect(with_('--batch-size', '0')).toThrow(/from 1 to 100000/);
    expect(with_('--batch-size', '1e3')).toThrow(/from 1 to 100000/);
  });

  it('defaults to every table, batches of 1000, asking first', () => {
    expect(parseCleanArgs(['--clean-before-timestamp', '2026-06-01'])).toMatchObject({
      tables: ['dag_run', 'dag_version', 'log', 'job'],
      batchSize: 1000,
      dryRun: false,
      yes: false,
    });
    expect(
      parseCleanArgs([
        '--clean-before-timestamp=2026-06-01',
        '--tables',
        'log, dag_run',
        '-y',
        '--batch-size',
        '50',
      ]),
    ).toMatchObject({ tables: ['dag_run', 'log'], batchSize: 50, yes: true });
  });
});

describe('pnpm db:clean on a database', () => {
  const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
  let db: TestDatabase;
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'dagbag-clean-cli-'));
    mkdirSync(join(dataDir, 'logs'));
    await db.prisma.dag.create({ data: { dagId: 'etl' } });
    for (const [runId, day] of [
      ['old', '2026-01-01'],
      ['new', '2026-03-01'],
    ] as const)
      await db.prisma.dagRun.create({
        data: {
          dagId: 'etl',
          runId,
          state: 'success',
          runType: 'manual',
          runAfter: new Date(`${day}T00:00:00Z`),
          endDate: new Date(`${day}T01:00:00Z`),
          taskInstances: { create: [{ taskId: 'a', state: 'success' }] },
        },
      });
    await db.prisma.eventLog.create({ data: { dttm: new Date('2026-01-02'), event: 'x' } });
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The command as an operator runs it, stdin not a terminal (as under cron). */
  const dbClean = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, DATA_DIR: dataDir, INIT_CWD: '' },
      input: '',
      encoding: 'utf8',
    });

  it('prints per-table counts with --dry-run and deletes nothing', async () => {
    const result = dbClean('--clean-before-timestamp', '2026-02-01', '--dry-run');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      'History that ended before 2026-02-01T00:00:00.000Z (dry run: nothing deleted):',
    );
    expect(result.stdout).toMatch(/^dag_run +1$/m);
    expect(result.stdout).toMatch(/^task_instance +1$/m);
    expect(result.stdout).toMatch(/^log +1$/m);
    expect(await db.prisma.dagRun.count()).toBe(2);
  });

  it('warns on stderr when DATA_DIR has no logs folder, stdout keeping the counts alone', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'dagbag-clean-cli-nologs-'));
    try {
      const result = spawnSync(
        process.execPath,
        [cli, '--clean-before-timestamp', '2026-02-01', '--dry-run'],
        {
          env: { ...process.env, DATABASE_URL: db.url, DATA_DIR: elsewhere, INIT_CWD: '' },
          input: '',
          encoding: 'utf8',
        },
      );
      expect(result.status).toBe(0);
      expect(result.stderr).toContain('no logs folder here');
      expect(result.stdout).not.toContain('no logs folder');
      expect(result.stdout).toMatch(/^dag_run +1$/m);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('refuses to delete without --yes when stdin is not a terminal, and deletes nothing', async () => {
    const result = dbClean('--clean-before-timestamp', '2026-02-01');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/stdin is not a terminal.*add --yes/);
    expect(await db.prisma.dagRun.count()).toBe(2);
  });

  it('names a mistake in the command line with exit status 2', () => {
    const result = dbClean('--clean-before-timestamp', 'yesterday', '--yes');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^db:clean: --clean-before-timestamp "yesterday"/);
    expect(result.stderr).toContain('usage: pnpm db:clean');
  });

  it('deletes with --yes and prints what it deleted', async () => {
    const result = dbClean('--clean-before-timestamp', '2026-02-01', '--yes');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Deleted history that ended before 2026-02-01T00:00:00.000Z/m);
    expect(result.stdout).toMatch(/^dag_run +1$/m);
    expect((await db.prisma.dagRun.findMany()).map((run) => run.runId)).toEqual(['new']);
    expect(await db.prisma.eventLog.count()).toBe(0);
  });
});
