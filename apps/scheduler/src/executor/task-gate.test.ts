import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { TASK_GATE } from './local-executor.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A task's shell as the executor starts it, with its gate on fd 3 and its stdout collected. */
function gatedTask(command: string) {
  const child = spawn('bash', ['--norc', '-c', TASK_GATE, command], {
    stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, gate: child.stdio[3] as Writable, exited, stdout: () => stdout };
}

describe("a task's gate", () => {
  it('runs nothing of the command until the scheduler opens it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'dagbag-gate-'));
    const marker = join(dir, 'ran');
    const task = gatedTask(`touch ${marker}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(marker)).toBe(false);
    task.gate.end('\n');
    expect(await task.exited).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it('runs nothing at all when the scheduler goes without opening it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'dagbag-gate-'));
    const marker = join(dir, 'ran');
    const task = gatedTask(`touch ${marker}`);
    task.gate.destroy();
    expect(await task.exited).toBe(1);
    expect(existsSync(marker)).toBe(false);
  });

  it('then runs the command as bash -c would, in the same process, with the gate closed', async () => {
    const task = gatedTask(
      'echo "$$ $0"; readlink /proc/$$/fd/3 2>/dev/null || echo closed; exit 7',
    );
    task.gate.end('\n');
    expect(await task.exited).toBe(7);
    expect(task.stdout().trim().split('\n')).toEqual([`${task.child.pid} bash`, 'closed']);
  });
});
