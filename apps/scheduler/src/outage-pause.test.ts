import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@dagbag/logger';
import { createHarness, waitFor, type Harness } from './testing/harness.ts';
import { startSchedulerBehindProxy, type SchedulerBehindProxy } from './testing/behind-proxy.ts';

let h: Harness;
let running: SchedulerBehindProxy;
let pidFile: string;
let cutOff = false;

beforeAll(async () => {
  h = await createHarness();
  pidFile = join(h.workDir, 'task.pid');
  await h.writeDag({
    dag_id: 'cut_off',
    tasks: [
      { task_id: 't', operator: 'bash', bash_command: `echo $$ > ${pidFile}; exec sleep 10` },
    ],
  });
  running = await startSchedulerBehindProxy(h, {
    env: {
      SCHEDULER_DB_BACKOFF_MAX_MS: '200',
      TASK_HEARTBEAT_TIMEOUT_SECONDS: '3',
      TASK_HEARTBEAT_INTERVAL_SECONDS: '1',
    },
    logger: silentLogger,
  });
});

afterAll(async () => {
  if (cutOff) await running.proxy.restore(); // a failure while cut must not keep the stop waiting
  await running.close();
  await h.close();
});

/** The process's state letter from /proc (R, S, T for stopped...), or null once it is gone. */
async function processState(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2)[0]!;
}

describe('a scheduler cut off from the database for the heartbeat timeout', () => {
  it('pauses its task before another scheduler may retry it, and resumes it when the database answers', async () => {
    // Before, the task ran on: another scheduler reaching the database (a partition) started try
    // 2 at the timeout while try 1 still ran here.
    await waitFor(async () => (await h.db.prisma.dag.count()) === 1, 10_000, 50);
    await h.trigger('cut_off', 'r1');
    let pid = 0;
    await waitFor(async () => {
      pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      return pid > 0;
    }, 20_000);
    await running.proxy.cut();
    cutOff = true;
    // Heartbeats unwritten for 3 s - 1 s: paused (T), where another scheduler may retry from 3 s.
    await waitFor(async () => (await processState(pid)) === 'T', 20_000, 50);
    await running.proxy.restore();
    cutOff = false;
    await waitFor(
      async () => ['success', 'failed'].includes((await h.runState('cut_off', 'r1')) ?? ''),
      30_000,
      100,
    );
    const ti = await h.db.prisma.taskInstance.findFirstOrThrow({
      where: { dagId: 'cut_off', runId: 'r1' },
    });
    // Nobody else retried it: resumed, it finished its one try.
    expect({ state: ti.state, tryNumber: ti.tryNumber }).toEqual({
      state: 'success',
      tryNumber: 1,
    });
  }, 60_000);
});
