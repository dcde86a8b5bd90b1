import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DagProcessorLock, requestDagFileParse } from '@dagbag/db';
import { silentLogger } from '@dagbag/logger';
import { createHarness, type Harness } from '../testing/harness.ts';
import { DagFileProcessor } from './dag-file-processor.ts';

let h: Harness;
let processor: DagFileProcessor;

const doc = (command: string) => ({
  dag_id: 'sourced',
  tasks: [{ task_id: 'only', operator: 'bash' as const, bash_command: command }],
});

beforeAll(async () => {
  h = await createHarness();
  processor = new DagFileProcessor({
    prisma: h.db.prisma,
    lock: new DagProcessorLock(h.db.url),
    dagsFolder: h.dagsFolder,
    logger: silentLogger,
  });
});

afterAll(async () => {
  await processor.close();
  await h.close();
});

async function sources() {
  const rows = await h.db.prisma.dagVersion.findMany({
    where: { dagId: 'sourced' },
    orderBy: { versionNumber: 'asc' },
    include: { dagCode: true },
  });
  return rows.map((row) => [row.versionNumber, row.dagCode?.sourceCode]);
}

describe('the processor keeps each version’s file text (dag_code, for GET /dagSources)', () => {
  it('stores the text with a new version, exactly as the file says it', async () => {
    const text = JSON.stringify(doc('echo one'), null, 4);
    await h.writeRaw('sourced.json', text);
    await processor.processOnce();
    expect(await sources()).toEqual([[1, text]]);
  });

  it('follows a change of text that keeps the meaning, without a new version', async () => {
    const text = JSON.stringify(doc('echo one'));
    await h.writeRaw('sourced.json', text);
    await processor.processOnce();
    expect(await sources()).toEqual([[1, text]]);
  });

  it('keeps the text of a used version when a change makes a new one', async () => {
    // The trigger creates the run's task instance on version 1, as the API's does: v1 is used.
    await h.trigger('sourced', 'uses_v1');
    const before = (await sources())[0]![1];
    const text = JSON.stringify(doc('echo two'));
    await h.writeRaw('sourced.json', text);
    await processor.processOnce();
    expect(await sources()).toEqual([
      [1, before],
      [2, text],
    ]);
  });
});

describe('is_paused_upon_creation', () => {
  it('makes a DAG seen for the first time start paused, and only then', async () => {
    await h.writeDag({ ...doc('true'), dag_id: 'starts_paused', is_paused_upon_creation: true });
    await processor.processOnce();
    const dag = () => h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'starts_paused' } });
    expect((await dag()).isPaused).toBe(true);
    await h.db.prisma.dag.update({ where: { dagId: 'starts_paused' }, data: { isPaused: false } });
    await h.writeDag({
      ...doc('echo changed'),
      dag_id: 'starts_paused',
      is_paused_upon_creation: true,
    });
    await processor.processOnce();
    expect((await dag()).isPaused).toBe(false);
  });
});

describe('parse requests (PUT /parseDagFile)', () => {
  it('make the processor write a file again that it believed in sync, and are consumed', async () => {
    const path = await h.writeDag({ ...doc('true'), dag_id: 'reparsed' });
    await processor.processOnce();
    // The DAG row vanishes behind the processor's back (as DELETE /dags does): without a request,
    // the unchanged file is not written again.
    await h.db.prisma.dag.delete({ where: { dagId: 'reparsed' } });
    await processor.processOnce();
    expect(await h.db.prisma.dag.count({ where: { dagId: 'reparsed' } })).toBe(0);
    await requestDagFileParse(h.db.prisma, path);
    await processor.processOnce();
    expect(await h.db.prisma.dag.count({ where: { dagId: 'reparsed' } })).toBe(1);
    expect(await h.db.prisma.dagPriorityParsingRequest.count()).toBe(0);
  });

  it('move last_parsed_time of an unchanged file, so a client polling it sees the reparse', async () => {
    const path = await h.writeDag({ ...doc('true'), dag_id: 'polled' });
    await processor.processOnce();
    const parsedAt = async () =>
      (await h.db.prisma.dag.findUniqueOrThrow({ where: { dagId: 'polled' } })).lastParsedTime!;
    const before = await parsedAt();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await requestDagFileParse(h.db.prisma, path);
    await processor.processOnce();
    expect((await parsedAt()).getTime()).toBeGreaterThan(before.getTime());
  });
});
