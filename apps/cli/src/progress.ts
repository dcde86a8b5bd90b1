/**
 * Live progress of a run: counts of its task instances per state and the tasks running now.
 * On a terminal the line is redrawn in place (log-update); otherwise one line per change, so a CI
 * log shows the history without control characters.
 */
import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import { stateText, type Io } from './output.ts';

export interface TaskStateRow {
  task_id: string;
  state: string | null;
}

export interface ProgressView {
  update(runState: string, tasks: readonly TaskStateRow[]): void;
  done(): void;
}

/** The order states are counted in: how far along a task is. */
const STATE_ORDER = [
  'success',
  'failed',
  'upstream_failed',
  'skipped',
  'running',
  'up_for_retry',
  'queued',
  'scheduled',
  'none',
];

export function progressLine(
  runId: string,
  runState: string,
  tasks: readonly TaskStateRow[],
): string {
  const counts = new Map<string, number>();
  for (const task of tasks)
    counts.set(task.state ?? 'none', (counts.get(task.state ?? 'none') ?? 0) + 1);
  const order = [...counts.keys()].sort(
    (a, b) => (STATE_ORDER.indexOf(a) >>> 0) - (STATE_ORDER.indexOf(b) >>> 0),
  );
  const running = tasks.filter((task) => task.state === 'running').map((task) => task.task_id);
  const parts = [
    `${runId} ${stateText(runState)}`,
    order.map((state) => `${stateText(state)} ${counts.get(state)}`).join(', ') ||
      (runState === 'success' || runState === 'failed' ? 'no tasks' : 'no tasks yet'),
  ];
  if (running.length > 0) parts.push(`running now: ${running.join(', ')}`);
  return parts.join(pc.dim(' | '));
}

export function createProgressView(io: Io, runId: string): ProgressView {
  const terminal = io.stdout as { isTTY?: boolean; rows?: number; columns?: number };
  // A terminal of no size (a pseudo-terminal nobody sized) shows nothing redrawn: print lines.
  if (terminal.isTTY && terminal.rows && terminal.columns) {
    const log = createLogUpdate(io.stdout);
    return {
      update: (runState, tasks) => log(progressLine(runId, runState, tasks)),
      done: () => log.done(),
    };
  }
  let last = '';
  return {
    update(runState, tasks) {
      const line = progressLine(runId, runState, tasks);
      if (line !== last) io.stdout.write(`${line}\n`);
      last = line;
    },
    done() {},
  };
}
