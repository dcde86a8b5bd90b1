import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENT_LIMITS, taskLogPath } from '@dagbag/dagbag';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';
import { MAX_TASK_CONF_BYTES } from './local-executor.ts';

let h: Harness;
let scheduler: Scheduler;

beforeAll(async () => {
  h = await createHarness();
  scheduler = await h.scheduler();
  await h.writeDag({
    dag_id: 'conf',
    tasks: [
      {
        task_id: 'print',
        operator: 'bash',
        // Fails its first try, so that a retry runs too.
        bash_command: [
          'echo "conf=$DAG_RUN_CONF"',
          'echo "dates=${DAG_RUN_DATA_INTERVAL_START-unset} ${DAG_RUN_DATA_INTERVAL_END-unset} $DAG_RUN_RUN_AFTER"',
          '[ "$AIRFLOW_CTX_TRY_NUMBER" != 1 ]',
        ].join('; '),
        retries: 1,
        retry_delay_seconds: 0,
      },
    ],
  });
  await scheduler.processDagFiles();
});

afterAll(async () => {
  await h.close();
});

/** What a try printed after `name=`, or undefined if its log has no such line. */
async function printed(
  runId: string,
  tryNumber: number,
  name: string,
): Promise<string | undefined> {
  const path = taskLogPath(h.logsRoot, { dagId: 'conf', runId, taskId: 'print', tryNumber });
  const line = (await readFile(path, 'utf8')).split('\n').find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1);
}

/** The conf a try printed, parsed, or undefined if its log has no `conf=` line. */
async function printedConf(runId: string, tryNumber: number): Promise<unknown> {
  const text = await printed(runId, tryNumber, 'conf');
  return text === undefined ? undefined : JSON.parse(text);
}

async function runToEnd(runId: string, conf?: Record<string, unknown>): Promise<void> {
  await h.trigger('conf', runId, conf);
  await loopUntil(scheduler, async () =>
    ['success', 'failed'].includes((await h.runState('conf', runId)) ?? ''),
  );
}

describe("a run's conf in its tasks' environment", () => {
  it('reaches every try of a task as JSON in DAG_RUN_CONF, a retry seeing the same', async () => {
    const conf = { day: '2026-01-01', limits: { rows: 10 }, tags: ['a', 'b'], quote: `it's "x"` };
    await runToEnd('with-conf', conf);
    expect(await h.runState('conf', 'with-conf')).toBe('success');
    expect(await printedConf('with-conf', 1)).toEqual(conf);
    expect(await printedConf('with-conf', 2)).toEqual(conf);
  });

  it('is {} for a run triggered without one', async () => {
    await runToEnd('no-conf');
    expect(await printedConf('no-conf', 1)).toEqual({});
  });

  it('comes with the run_after of a manual run, and no data interval when it has no logical date', async () => {
    await runToEnd('dates');
    const run = await h.db.prisma.dagRun.findUniqueOrThrow({
      where: { dagId_runId: { dagId: 'conf', runId: 'dates' } },
    });
    const runAfter = run.runAfter.toISOString().replace(/\.000Z$|Z$/, '+00:00');
    expect(await printed('dates', 1, 'dates')).toBe(`unset unset ${runAfter}`);
  });

  it('reaches the task whole at the largest size the environment holds', async () => {
    // {"x":"…"}: 8 bytes around the string.
    const conf = { x: 'y'.repeat(MAX_TASK_CONF_BYTES - 8) };
    expect(JSON.stringify(conf)).toHaveLength(MAX_TASK_CONF_BYTES);
    await runToEnd('largest', conf);
    expect(await printedConf('largest', 2)).toEqual(conf);
  });

  it('fails the task, with the reason in its log, when one byte larger, and the scheduler goes on', async () => {
    const conf = { x: 'y'.repeat(MAX_TASK_CONF_BYTES - 7) };
    await runToEnd('too-large', conf);
    expect(await h.taskStates('conf', 'too-large')).toEqual({ print: 'failed' });
    const path = taskLogPath(h.logsRoot, {
      dagId: 'conf',
      runId: 'too-large',
      taskId: 'print',
      tryNumber: 2,
    });
    expect(await readFile(path, 'utf8')).toContain(
      `could not start: the run's conf is ${MAX_TASK_CONF_BYTES + 1} bytes of JSON, more than ` +
        `the ${MAX_TASK_CONF_BYTES} that DAG_RUN_CONF can hold`,
    );
    expect(await printedConf('too-large', 2)).toBeUndefined();
    expect(scheduler.executor.slotsUsed).toBe(0);
    await runToEnd('after', { n: 1 });
    expect(await printedConf('after', 2)).toEqual({ n: 1 });
  });
});

describe('the limits of what a task can be started with', () => {
  it('starts a bash_command of the largest size a DAG file may give', async () => {
    // The document's limit (packages/dagbag) must fit how this executor hands the command over.
    const command = `true #${'x'.repeat(DOCUMENT_LIMITS.bashCommandBytes - 6)}`;
    await h.writeDag({
      dag_id: 'largest',
      tasks: [{ task_id: 't', operator: 'bash', bash_command: command }],
    });
    await scheduler.processDagFiles();
    await h.trigger('largest', 'r1');
    await loopUntil(scheduler, async () =>
      ['success', 'failed'].includes((await h.runState('largest', 'r1')) ?? ''),
    );
    expect(await h.taskStates('largest', 'r1')).toEqual({ t: 'success' });
  });

  it('fails a task whose environment Linux refuses (E2BIG), with the reason in its log, and the scheduler goes on', async () => {
    // A passed-through variable over 128 KiB: spawn refuses it before any process exists.
    const big = await h.scheduler({
      env: { SCHEDULER_TASK_ENV_PASSTHROUGH: 'BIG_VALUE', BIG_VALUE: 'x'.repeat(140_000) },
    });
    await h.writeDag({
      dag_id: 'huge',
      tasks: [{ task_id: 't', operator: 'bash', bash_command: 'true' }],
    });
    await scheduler.processDagFiles();
    await h.trigger('huge', 'r1');
    await loopUntil(big, async () => (await h.runState('huge', 'r1')) === 'failed');
    const path = taskLogPath(h.logsRoot, { dagId: 'huge', runId: 'r1', taskId: 't', tryNumber: 1 });
    expect(await readFile(path, 'utf8')).toContain(
      'could not start: spawn E2BIG (bash_command or an environment variable is over the 128 KiB',
    );
    expect(big.executor.slotsUsed).toBe(0);
  });
});
