import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnScheduler, type ChildScheduler } from '../testing/child-scheduler.ts';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';

let h: Harness;
let child: ChildScheduler | undefined;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  if (child && child.process.exitCode === null) {
    child.process.kill('SIGCONT');
    child.process.kill('SIGKILL');
    await child.exited;
  }
  await h.close();
});

/** Whether a process runs (a zombie, killed but not yet reaped by its stopped parent, does not). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

it('kills the task of a scheduler stopped (SIGSTOP) before another scheduler may retry it', async () => {
  // Before: the task ran on beside its retry on another scheduler (seen with kill -STOP for 30 s:
  // try 2 started at the heartbeat timeout while try 1 still slept).
  const pidFile = join(h.workDir, 'task.pid');
  await h.writeDag({
    dag_id: 'frozen',
    tasks: [
      { task_id: 't', operator: 'bash', bash_command: `echo $$ > ${pidFile}; exec sleep 120` },
    ],
  });
  await h.storeDags();
  child = await spawnScheduler(h.childEnv({ TASK_HEARTBEAT_TIMEOUT_SECONDS: '3' }));
  await h.trigger('frozen', 'r1');
  let pid = 0;
  await waitFor(async () => {
    pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    return pid > 0;
  }, 30_000);

  child.process.kill('SIGSTOP');
  // The heartbeat timeout is 3 s; the task goes once its watchdog has heard nothing for 2 s.
  await waitFor(async () => !(await alive(pid)), 20_000, 100);
  expect(child.process.exitCode).toBeNull(); // still there, stopped
  const log = await readFile(join(h.workDir, 'logs', 'frozen', 'r1', 't', '1.log'), 'utf8');
  expect(log).toContain('no word from the scheduler for 2 s');
}, 60_000);
