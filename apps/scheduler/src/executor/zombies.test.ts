/**
 * A scheduler that is PID 1, as in a container without an init (Docker without `--init`, a
 * Kubernetes pod): nobody else reaps what it leaves behind. Run in a PID namespace of its own
 * (`unshare --pid --fork`, as root), where the scheduler is PID 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../testing/child-scheduler.ts';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = 4;
const TASKS = 5;

let h: Harness;
let unshare: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  // --kill-child: the scheduler (and its namespace) goes with unshare.
  if (unshare && unshare.exitCode === null) {
    const exited = new Promise((resolve) => unshare!.once('exit', resolve));
    unshare.kill('SIGKILL');
    await exited;
  }
  await h.close();
});

async function processes(): Promise<{ pid: number; ppid: number; state: string }[]> {
  const found = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (stat === null) continue;
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    found.push({ pid: Number(entry), ppid: Number(ppid), state: state! });
  }
  return found;
}

it('leaves no zombie process behind per task when it is PID 1 (a container without an init)', async () => {
  // Before: each try's watchdog was forked by the task's shell, outlived it, went to PID 1 (the
  // scheduler itself here) and was never reaped: one zombie per try, for as long as it ran.
  await h.writeDag({
    dag_id: 'reaped',
    tasks: Array.from({ length: TASKS }, (_, i) => ({
      task_id: `t${i}`,
      operator: 'bash' as const,
      bash_command: `echo task ${i}; sleep 0.1`,
    })),
  });
  await h.storeDags();
  const env = {
    ...process.env,
    VITEST: '',
    ...h.childEnv({ METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn' }),
  };
  unshare = spawn(
    'unshare',
    ['--pid', '--fork', '--kill-child', process.execPath, '--import', 'tsx', 'src/main.ts'],
    { cwd: APP_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  unshare.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  unshare.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let r = 0; r < RUNS; r++) await h.trigger('reaped', `r${r}`);
  await waitFor(
    async () =>
      (await h.db.prisma.dagRun.count({ where: { dagId: 'reaped', state: 'success' } })) === RUNS,
    60_000,
  ).catch((error: unknown) => {
    throw new Error(`runs did not finish; scheduler output:\n${output}`, { cause: error });
  });
  const all = await processes();
  const scheduler = all.find((p) => p.ppid === unshare!.pid);
  expect(scheduler, `the scheduler under unshare; its output:\n${output}`).toBeDefined();
  // Whatever a try started has ended with it; give the last watchdogs a moment to exit.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const zombies = (await processes()).filter((p) => p.ppid === scheduler!.pid && p.state === 'Z');
  expect(zombies.length, `${RUNS * TASKS} tries ran`).toBe(0);
}, 90_000);
