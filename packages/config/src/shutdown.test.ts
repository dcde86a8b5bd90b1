import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** A process whose stop takes `stopMs` (forever when absent), started through onShutdown. */
function child(stopMs?: number) {
  const script = `
    import { onShutdown } from ${JSON.stringify(new URL('./shutdown.ts', import.meta.url).href)};
    const logger = { info() {}, error() {} };
    onShutdown(logger, () => new Promise((resolve) => ${stopMs === undefined ? 'void resolve' : `setTimeout(resolve, ${stopMs})`}));
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1 << 30);`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { process: proc, ready, exited };
}

describe('onShutdown', () => {
  it('stops on the first signal and exits 0', async () => {
    const app = child(50);
    await app.ready;
    app.process.kill('SIGINT');
    expect(await app.exited).toBe(0);
  });

  it('takes a signal that arrives twice at once (process group and parent) as one Ctrl-C', async () => {
    const app = child(800);
    await app.ready;
    app.process.kill('SIGINT');
    app.process.kill('SIGINT');
    expect(await app.exited).toBe(0);
  });

  it('stops at once with 130 on a second Ctrl-C while the first stop is still running', async () => {
    const app = child();
    await app.ready;
    app.process.kill('SIGINT');
    await sleep(700);
    app.process.kill('SIGINT');
    expect(await app.exited).toBe(130);
  });
});
