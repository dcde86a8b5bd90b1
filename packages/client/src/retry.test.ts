import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sleep } from './retry.ts';

describe('sleep', () => {
  it('leaves no abort listener on its signal once a pause has ended, however many pauses share it', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('still ends a pause early with the abort', async () => {
    const controller = new AbortController();
    const pause = sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pause).rejects.toThrow('stop');
  });
});
