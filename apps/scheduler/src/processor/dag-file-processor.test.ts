import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_SOURCE_BYTES } from '@dagbag/dagbag';
import { DagProcessorLock } from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';
import { recordingLogger } from '@dagbag/logger/testing';
import { createHarness, type Harness } from '../testing/harness.ts';
import { DagFileProcessor } from './dag-file-processor.ts';

let h: Harness;
let processor: DagFileProcessor;

const simple = (command = 'echo hi') => ({
  dag_id: 'simple',
  description: 'a simple DAG',
  schedule: '@hourly',
  start_date: '2026-01-01T00:00:00Z',
  tags: ['example'],
  tasks: [{ task_id: 'only', operator: 'bash' as const, bash_command: command }],
});

beforeAll(async () => {
  h = await createHarness();
});

beforeEach(async () => {
  await processor?.close();
  await h.db.prisma.dag.deleteMany();
  await h.db.prisma.importError.deleteMany();
  const { readdir, rm } = await import('node:fs/promises');
  for (const file of await readdir(h.dagsFolder)) await rm(`${h.dagsFolder}/${file}`);
  processor = new DagFileProcessor({
    prisma: h.db.prisma,
    lock: new DagProcessorLock(h.db.url),
    dagsFolder: h.dagsFolder,
    logger: silentLogger,
    now: () => new Date('2026-03-01T10:30:00Z'),
  });
});

afterAll(async () => {
  await processor.close();
  await h.close();
});

async function versions(dagId: string) {
  return h.db.prisma.dagVersion.findMany({
    where: { dagId },
    orderBy: { versionNumber: 'asc' },
    include: { serializedDag: true },
  });
}

describe('the DAG file processor', () => {
  it('stores a new DAG as version 1 with its dag row', async () => {
    await h.writeDag(simple());
    const summary = await processor.processOnce();
    expect(summary.created).toEqual(['simple']);
    const dag = await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'simple' } });
    expect(dag).toMatchObject({
      isStale: false,
      description: 'a simple DAG',
      timetableSummary: '@hourly',
      tags: ['example'],
      relativeFileloc: 'simple.json',
      // catchup off: the latest complete hour is the first run, created right away
      nextDagrunLogicalDate: new Date('2026-03-01T09:00:00Z'),
      nextDagrunCreateAfter: new Date('2026-03-01T10:00:00Z'),
    });
    expect((await versions('simple')).map((v) => v.versionNumber)).toEqual([1]);
  });

  it('updates the latest version in place while no task instance uses it', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    await h.writeDag(simple('echo changed'));
    const summary = await processor.processOnce();
    expect(summary.updatedInPlace).toEqual(['simple']);
    const stored = await versions('simple');
    expect(stored.map((v) => v.versionNumber)).toEqual([1]);
    expect(JSON.stringify(stored[0]!.serializedDag!.data)).toContain('echo changed');
  });

  it('creates a new version when the latest one is used by a task instance', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    const [v1] = await versions('simple');
    await h.db.prisma.dagRun.create({
      data: {
        dagId: 'simple',
        runId: 'r',
        state: 'running',
        runType: 'manual',
        createdDagVersionId: v1!.id,
      },
    });
    await h.db.prisma.taskInstance.create({
      data: { dagId: 'simple', runId: 'r', taskId: 'only', dagVersionId: v1!.id },
    });
    await h.writeDag(simple('echo changed'));
    const summary = await processor.processOnce();
    expect(summary.newVersions).toEqual(['simple']);
    expect((await versions('simple')).map((v) => v.versionNumber)).toEqual([1, 2]);
  });

  it('gives new versions time-ordered UUIDv7 ids, so ordering by id is ordering by creation', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    const [v1] = await versions('simple');
    await h.db.prisma.dagRun.create({
      data: { dagId: 'simple', runId: 'r', state: 'running', runType: 'manual' },
    });
    await h.db.prisma.taskInstance.create({
      data: { dagId: 'simple', runId: 'r', taskId: 'only', dagVersionId: v1!.id },
    });
    await h.writeDag(simple('echo changed'));
    await processor.processOnce();
    const ids = (await versions('simple')).map((v) => v.id);
    expect(ids.map((id) => id[14])).toEqual(['7', '7']);
    expect([...ids].sort()).toEqual(ids);
  });

  it('writes nothing for an unchanged file, even from a processor that never saw it', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    // xmin changes with every write of a row: the rows' versions before and after must be equal.
    const rowVersions = () => h.db.prisma.$queryRaw<{ xmin: string }[]>`
      SELECT xmin::text FROM dag UNION ALL SELECT xmin::text FROM dag_version UNION ALL SELECT xmin::text FROM serialized_dag`;
    const before = await rowVersions();
    const fresh = new DagFileProcessor({
      prisma: h.db.prisma,
      lock: { tryAcquire: async () => true, release: async () => {} },
      dagsFolder: h.dagsFolder,
      logger: silentLogger,
    });
    const summary = await fresh.processOnce();
    expect(summary.unchanged).toEqual(['simple']);
    expect(await rowVersions()).toEqual(before);
  });

  it('marks a DAG stale when its file is removed', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    await h.removeFile('simple.json');
    const summary = await processor.processOnce();
    expect(summary.stale).toEqual(['simple']);
    expect((await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'simple' } })).isStale).toBe(
      true,
    );
  });

  it('records an import error with the file, the reason and the position', async () => {
    await h.writeRaw(
      'broken.json',
      '{\n  "dag_id": "broken",\n  "tasks": [\n    { "task_id": "a", "operator": "bash", "bash_command": "true", "upstream": ["nope"] }\n  ]\n}\n',
    );
    const summary = await processor.processOnce();
    expect(summary.importErrors).toEqual(['broken.json']);
    const error = await h.db.prisma.importError.findUniqueOrThrow({
      where: { filename: 'broken.json' },
    });
    expect(error.stackTrace).toMatch(/^broken\.json:4:\d+: .*unknown upstream "nope"/);
  });

  it('takes no import_error id on a pass over a file that stays broken', async () => {
    // Before: every pass took one (12 a minute per broken file, with the default scan interval),
    // on the way to the end of the column's integers.
    await h.writeRaw('stays-broken.json', '{ "dag_id": "stays_broken", ');
    const lastId = async () =>
      (
        await h.db.prisma.$queryRawUnsafe<{ value: bigint }[]>(
          'SELECT last_value AS value FROM import_error_id_seq',
        )
      )[0]!.value;
    await processor.processOnce();
    const first = await lastId();
    for (let pass = 0; pass < 5; pass++) await processor.processOnce();
    expect(await lastId()).toBe(first);
    expect(await h.db.prisma.importError.count({ where: { filename: 'stays-broken.json' } })).toBe(
      1,
    );
    // A change of the reason is still written.
    await h.writeRaw('stays-broken.json', '{ "dag_id": "stays_broken", "tasks": ');
    await processor.processOnce();
    const error = await h.db.prisma.importError.findUniqueOrThrow({
      where: { filename: 'stays-broken.json' },
    });
    expect(error.stackTrace).toMatch(/^stays-broken\.json:1:/);
    expect(await lastId()).toBe(first);
  });

  it('reports invalid JSON with its line and column', async () => {
    await h.writeRaw('syntax.json', '{\n  "dag_id": "x",\n  "tasks": [,]\n}\n');
    await processor.processOnce();
    const error = await h.db.prisma.importError.findUniqueOrThrow({
      where: { filename: 'syntax.json' },
    });
    expect(error.stackTrace).toMatch(/^syntax\.json:3:\d+: invalid JSON/);
  });

  it('refuses a file over the size limit from its size, before reading it', async () => {
    // 3 GiB, sparse: read whole (as before), it was "cannot read file: File size ... is greater
    // than 2 GiB"; smaller dumps were read into the heap at every scan.
    const path = join(h.dagsFolder, 'dump.json');
    await writeFile(path, '');
    await truncate(path, 3 * 1024 ** 3);
    await processor.processOnce();
    const error = await h.db.prisma.importError.findUniqueOrThrow({
      where: { filename: 'dump.json' },
    });
    expect(error.stackTrace).toBe(
      `dump.json: file is ${3 * 1024 ** 3} bytes; a DAG file may be at most ${MAX_SOURCE_BYTES} bytes`,
    );
  });

  it('reports a named pipe instead of waiting on it forever', async () => {
    execFileSync('mkfifo', [join(h.dagsFolder, 'pipe.json')]);
    await h.writeDag(simple());
    const pass = processor.processOnce();
    const stuck = new Promise((resolve) => setTimeout(() => resolve('stuck'), 20_000).unref());
    expect(await Promise.race([pass, stuck])).toMatchObject({ created: ['simple'] });
    const error = await h.db.prisma.importError.findUniqueOrThrow({
      where: { filename: 'pipe.json' },
    });
    expect(error.stackTrace).toBe(
      'pipe.json: not a regular file (a named pipe); a DAG file is a plain file',
    );
  });

  it('reports a file that is not UTF-8 at its first bad byte, storing nothing', async () => {
    const latin1 = Buffer.from(
      '{\n  "dag_id": "latin1",\n  "description": "caf\u00e9",\n  "tasks": []\n}\n',
      'latin1',
    );
    await writeFile(join(h.dagsFolder, 'latin1.json'), latin1);
    await processor.processOnce();
    const error = await h.db.prisma.importError.findUniqueOrThrow({
      where: { filename: 'latin1.json' },
    });
    expect(error.stackTrace).toBe(
      'latin1.json:3:22: not UTF-8 text (byte 0xe9); save the file as UTF-8',
    );
    expect(await h.db.prisma.dag.count()).toBe(0);
  });

  it('reads a UTF-8 file that starts with a byte order mark', async () => {
    await h.writeRaw('bom.json', `\uFEFF${JSON.stringify(simple())}`);
    const summary = await processor.processOnce();
    expect(summary).toMatchObject({ created: ['simple'], importErrors: [] });
  });

  it('keeps storing good files when another file is bad', async () => {
    await h.writeRaw('a-broken.json', 'not json');
    await h.writeDag(simple());
    const summary = await processor.processOnce();
    expect(summary).toMatchObject({ created: ['simple'], importErrors: ['a-broken.json'] });
  });

  it('keeps the existing DAG (not stale, same version) when its file turns bad', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    await h.writeRaw('simple.json', '{ "dag_id": "simple", ');
    await processor.processOnce();
    expect((await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'simple' } })).isStale).toBe(
      false,
    );
    expect((await versions('simple')).map((v) => v.versionNumber)).toEqual([1]);
  });

  it('clears the import error once the file is fixed', async () => {
    await h.writeRaw('simple.json', '{ "dag_id": "simple", ');
    await processor.processOnce();
    await h.writeDag(simple());
    await processor.processOnce();
    expect(await h.db.prisma.importError.count()).toBe(0);
  });

  it('has cleared the import error of a fixed file by the time its new definition is stored', async () => {
    await h.writeDag(simple());
    await processor.processOnce();
    await h.writeRaw('simple.json', '{ "dag_id": "simple", '); // read while half-written
    await processor.processOnce();
    // What a reader (the API refusing to trigger a DAG with import errors) sees the moment the
    // fixed definition is stored: the import errors then.
    const sql = (text: string) => h.db.prisma.$executeRawUnsafe(text);
    await sql('CREATE TABLE seen_import_errors (n int)');
    await sql(`CREATE FUNCTION note_import_errors() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO seen_import_errors SELECT count(*) FROM import_error; RETURN NEW; END $$`);
    await sql(`CREATE TRIGGER note_import_errors AFTER INSERT OR UPDATE ON serialized_dag
      FOR EACH ROW EXECUTE FUNCTION note_import_errors()`);
    try {
      await h.writeDag(simple('echo fixed'));
      await processor.processOnce();
      const seen = await h.db.prisma.$queryRawUnsafe<{ n: number }[]>(
        'SELECT n FROM seen_import_errors',
      );
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.map((row) => row.n)).toEqual(seen.map(() => 0));
    } finally {
      await sql('DROP TRIGGER note_import_errors ON serialized_dag');
      await sql('DROP FUNCTION note_import_errors()');
      await sql('DROP TABLE seen_import_errors');
    }
  });

  it('refuses a second file defining the same dag_id', async () => {
    await h.writeDag(simple(), 'a.json');
    await h.writeDag(simple('echo other'), 'b.json');
    const summary = await processor.processOnce();
    expect(summary).toMatchObject({ created: ['simple'], importErrors: ['b.json'] });
  });

  it('lets a DAG move to another file when its old file now defines a different DAG', async () => {
    await h.writeDag(simple(), 'a.json');
    await processor.processOnce();
    await h.writeDag({ ...simple(), dag_id: 'renamed' }, 'a.json');
    await h.writeDag(simple(), 'b.json');
    const summary = await processor.processOnce();
    expect(summary).toMatchObject({ created: ['renamed'], importErrors: [] });
    expect(
      (await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'simple' } })).relativeFileloc,
    ).toBe('b.json');
  });

  it('keeps a DAG with its file while that file is broken', async () => {
    await h.writeDag(simple(), 'a.json');
    await processor.processOnce();
    await h.writeRaw('a.json', '{ broken');
    await h.writeDag(simple(), 'b.json');
    const summary = await processor.processOnce();
    expect(summary.importErrors).toEqual(['a.json', 'b.json']);
  });

  it('says once that DAGS_FOLDER does not exist, and when it is there', async () => {
    // Silent before: a typo in DAGS_FOLDER read as an empty folder.
    const { logger, lines } = recordingLogger({ name: 'scheduler' });
    const folder = join(await mkdtemp(join(tmpdir(), 'dagbag-missing-')), 'dags');
    const missing = new DagFileProcessor({
      prisma: h.db.prisma,
      lock: new DagProcessorLock(h.db.url),
      dagsFolder: folder,
      logger,
    });
    try {
      await missing.processOnce();
      await missing.processOnce();
      await mkdir(folder);
      await missing.processOnce();
      const said = lines.filter((line) => line.msg.startsWith('DAGS_FOLDER'));
      expect(said.map((line) => [line.level, line.msg])).toEqual([
        [
          40,
          `DAGS_FOLDER ${folder} is not a folder: no DAG file is read until it is (set DAGS_FOLDER to the folder of your DAG files)`,
        ],
        [30, `DAGS_FOLDER ${folder} is there: reading its DAG files`],
      ]);
    } finally {
      await missing.close();
      await rm(join(folder, '..'), { recursive: true, force: true });
    }
  });

  it('does nothing while another processor holds the lock', async () => {
    const other = new DagProcessorLock(h.db.url);
    expect(await other.tryAcquire()).toBe(true);
    await h.writeDag(simple());
    const summary = await processor.processOnce();
    await other.release();
    expect(summary.processed).toBe(false);
    expect(await h.db.prisma.dag.count()).toBe(0);
  });
});
