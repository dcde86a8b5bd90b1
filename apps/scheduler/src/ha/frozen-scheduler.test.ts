import { readdir, readFile } from 'node:fs/promises';
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

/** A process's state (R, S, T stopped, Z zombie...), parent and group, or undefined once reaped. */
async function procStat(pid: number | string) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  const [state, parent, group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state, parent: Number(parent), group: Number(group) };
}

/** Whether a process runs (a zombie, killed but not yet reaped by its stopped parent, does not). */
async function alive(pid: number): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Each child of `parent`: its pid, state, group and command line. */
async function childrenOf(parent: number): Promise<string[]> {
  const lines: string[] = [];
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const stat = await procStat(pid);
    if (stat?.parent !== parent) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    lines.push(
      `${pid} ${stat.state} group ${stat.group}: ${command.replaceAll('\0', ' ').slice(0, 100)}`,
    );
  }
  return lines;
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
  // Polled every millisecond, so the stop can land between the task's start and its watchdog's,
  // where a scheduler once left its task unwatched (see TASK_GATE in local-executor.ts): with six
  // busy loops beside it, the code before failed 2 runs of 5 this way.
  await waitFor(
    async () => {
      pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      return pid > 0;
    },
    30_000,
    1,
  );

  child.process.kill('SIGSTOP');
  // The heartbeat timeout is 3 s; the task goes once its watchdog has heard nothing for 2 s.
  const taskLog = join(h.workDir, 'logs', 'frozen', 'r1', 't', '1.log');
  await waitFor(async () => !(await alive(pid)), 20_000, 100).catch(async (error: Error) => {
    // The failure says what each process was doing (how the missing watchdog was found).
    throw new Error(
      `${error.message}\ntask ${pid}: ${JSON.stringify(await procStat(pid))}\nthe scheduler's children:\n` +
        `${(await childrenOf(child!.process.pid!)).join('\n')}\n` +
        `task log:\n${await readFile(taskLog, 'utf8').catch(String)}\n` +
        `scheduler output:\n${child!.output().slice(-3000)}`,
    );
  });
  expect(child.process.exitCode).toBeNull(); // still there, stopped
  const log = await readFile(taskLog, 'utf8');
  expect(log).toContain('no word from the scheduler for 2 s');
}, 60_000);
