import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiQueries } from '@dagbag/db';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';
import type { Scheduler } from '../scheduler.ts';

let h: Harness;
let scheduler: Scheduler;

/** `start <try> <ms>` / `end <try> <ms>` lines a task appends to its marker file. */
function markerCommand(file: string, body: string): string {
  return [
    `echo "start $AIRFLOW_CTX_TRY_NUMBER $(date +%s%3N)" >> ${file}`,
    body,
    `echo "end $AIRFLOW_CTX_TRY_NUMBER $(date +%s%3N)" >> ${file}`,
  ].join('; ');
}

async function markers(file: string): Promise<{ kind: string; tryNumber: number; at: number }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind, tryNumber, at] = line.split(' ');
      return { kind: kind!, tryNumber: Number(tryNumber), at: Number(at) };
    });
}

let file: string;
let pidFile: string;

beforeAll(async () => {
  h = await createHarness();
  file = join(h.workDir, 'cleared.markers');
  pidFile = join(h.workDir, 'stubborn.pid');
  scheduler = await h.scheduler({
    env: { TASK_HEARTBEAT_INTERVAL_SECONDS: '1', SCHEDULER_LOOP_INTERVAL_MS: '100' },
  });
  await h.writeDag({
    dag_id: 'cleared',
    tasks: [
      {
        task_id: 't',
        operator: 'bash',
        retries: 1,
        retry_delay_seconds: 0,
        bash_command: markerCommand(
          file,
          'if [ "$AIRFLOW_CTX_TRY_NUMBER" = 1 ]; then sleep 6; else sleep 1; fi',
        ),
      },
    ],
  });
  await h.writeDag({
    dag_id: 'stubborn',
    tasks: [
      {
        task_id: 't',
        operator: 'bash',
        execution_timeout_seconds: 2,
        bash_command: `(trap '' TERM; exec sleep 121) & echo $! > ${pidFile}; sleep 122`,
      },
    ],
  });
  await h.writeDag({
    dag_id: 'skipper',
    tasks: [
      { task_id: 'skip', operator: 'bash', bash_command: 'exit 99', retries: 2 },
      { task_id: 'after', operator: 'bash', bash_command: 'true', upstream: ['skip'] },
    ],
  });
  await scheduler.processDagFiles();
  scheduler.start();
});

afterAll(async () => {
  await h.close();
});

describe('a cleared running task instance', () => {
  it('has its running try stopped before the next try starts, and the run then succeeds', async () => {
    await h.trigger('cleared', 'r1');
    await waitFor(async () => (await h.taskStates('cleared', 'r1')).t === 'running', 20_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // well into try 1
    const cleared = await createApiQueries(h.db.prisma).clearDagRun('cleared', 'r1', {
      onlyFailed: false,
      retriesOf: async () => 1,
    });
    expect(cleared?.state).toBe('queued');
    await waitFor(async () => (await h.runState('cleared', 'r1')) === 'success', 30_000);

    // Past the moment try 1 would have ended on its own.
    const firstStart = (await markers(file))[0]!.at;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, firstStart + 7_500 - Date.now())),
    );
    const lines = await markers(file);
    const starts = lines.filter((m) => m.kind === 'start');
    expect(starts.map((m) => m.tryNumber)).toEqual([1, 2]);
    // Try 1 was stopped (it never wrote its end line), and try 2 started after it was gone.
    expect(lines.filter((m) => m.kind === 'end').map((m) => m.tryNumber)).toEqual([2]);
    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'cleared', runId: 'r1' },
    });
    expect([ti.state, ti.tryNumber]).toEqual(['success', 2]);
  });
});

/** Alive and not a zombie waiting to be reaped. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && !/^\d+ \(.*\) Z /.test(stat);
}

describe('execution_timeout', () => {
  it('kills what the command started in the background even when it ignores SIGTERM', async () => {
    await h.trigger('stubborn', 'r1');
    await waitFor(async () => (await h.taskStates('stubborn', 'r1')).t === 'failed', 30_000);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await waitFor(async () => !(await alive(pid)), 3_000, 100).catch(() => undefined);
    expect(await alive(pid)).toBe(false);
  });
});

describe('exit code 99', () => {
  it('marks the task instance skipped, as BashOperator does', async () => {
    await h.trigger('skipper', 'r1');
    await waitFor(async () => (await h.runState('skipper', 'r1')) === 'success', 30_000);
    expect(await h.taskStates('skipper', 'r1')).toEqual({ after: 'skipped', skip: 'skipped' });
  });
});

describe('a running task removed from its DAG and added back at once', () => {
  it('runs its next try only once the removed try is gone', async () => {
    const lock = join(h.workDir, 'readd.lock');
    const overlaps = join(h.workDir, 'readd.overlaps');
    const markerFile = join(h.workDir, 'readd.markers');
    const t = {
      task_id: 't',
      operator: 'bash' as const,
      bash_command: [
        `if ! mkdir ${lock} 2>/dev/null; then echo "try $AIRFLOW_CTX_TRY_NUMBER" >> ${overlaps}; exit 1; fi`,
        `trap 'rmdir ${lock}; exit 143' TERM`,
        `echo "start $AIRFLOW_CTX_TRY_NUMBER" >> ${markerFile}`,
        'sleep 4 & wait $!',
        `rmdir ${lock}`,
      ].join('\n'),
    };
    const u = { task_id: 'u', operator: 'bash' as const, bash_command: 'sleep 3' };
    await h.writeDag({ dag_id: 'readd', tasks: [t, u] });
    await scheduler.processDagFiles();
    await h.trigger('readd', 'r1');
    await waitFor(async () => (await h.taskStates('readd', 'r1')).t === 'running', 20_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 300));

    await h.writeDag({ dag_id: 'readd', tasks: [u] });
    await scheduler.processDagFiles();
    await waitFor(async () => (await h.taskStates('readd', 'r1')).t === 'removed', 20_000, 20);
    await h.writeDag({ dag_id: 'readd', tasks: [t, u] });
    await scheduler.processDagFiles();

    await waitFor(async () => (await h.runState('readd', 'r1')) === 'success', 30_000);
    expect(await readFile(overlaps, 'utf8').catch(() => '')).toBe('');
    expect((await readFile(markerFile, 'utf8')).trim().split('\n')).toEqual(['start 1', 'start 2']);
  });
});
