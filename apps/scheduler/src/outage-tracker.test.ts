import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@dagbag/logger';
import { OutageTracker, SETTLE_MS } from './outage.ts';

function tracker(clock: () => number = Date.now) {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        messages.push((JSON.parse(line) as { msg: string }).msg);
      done();
    },
  });
  return {
    messages,
    outage: new OutageTracker(
      createLogger({ name: 't', level: 'info', destination: sink }),
      100,
      1000,
      clock,
    ),
  };
}

describe('the outage tracker', () => {
  it('logs one line when an incident starts and one when every failing task has worked for the settle time', () => {
    let now = 0;
    const { messages, outage } = tracker(() => now);
    outage.failed('loop', new Error('down'));
    outage.failed('heartbeat', new Error('down'));
    outage.failed('loop', new Error('down'));
    outage.succeeded('loop');
    now = 1000;
    outage.succeeded('heartbeat');
    now = 1000 + SETTLE_MS - 1;
    outage.succeeded('loop');
    expect(messages).toHaveLength(1);
    now = 1000 + SETTLE_MS;
    outage.succeeded('loop');
    expect(messages).toEqual([
      'scheduler cannot reach the database (or a query failed); backing off until it works again',
      'scheduler reaches the database again; resuming',
    ]);
  });

  it('counts a task that meets the outage only after the others recovered as the same incident', () => {
    let now = 0;
    const { messages, outage } = tracker(() => now);
    outage.failed('loop', new Error('down'));
    now = 3000;
    outage.succeeded('loop');
    now = 4000;
    outage.failed('dag-processor', new Error('Connection terminated unexpectedly'));
    outage.succeeded('dag-processor');
    now = 4000 + SETTLE_MS;
    outage.succeeded('loop');
    expect(messages).toEqual([
      'scheduler cannot reach the database (or a query failed); backing off until it works again',
      'scheduler reaches the database again; resuming',
    ]);
  });

  it('tries a task waiting out its pause again as soon as another failing task works again', () => {
    let now = 0;
    const { messages, outage } = tracker(() => now);
    const retried: string[] = [];
    outage.failed('loop', new Error('down'), () => retried.push('loop'));
    outage.failed('dag-processor', new Error('down'), () => retried.push('dag-processor'));
    outage.failed('heartbeat', new Error('down'), () => retried.push('heartbeat'));
    // A task that has been working all along says nothing about the database coming back.
    outage.succeeded('reconcile');
    expect(retried).toEqual([]);
    now = 3000;
    outage.succeeded('heartbeat');
    expect(retried).toEqual(['loop', 'dag-processor']);
    outage.succeeded('loop');
    outage.succeeded('dag-processor');
    now = 3000 + SETTLE_MS;
    outage.succeeded('heartbeat');
    expect(retried).toEqual(['loop', 'dag-processor']);
    expect(messages.at(-1)).toBe('scheduler reaches the database again; resuming');
  });

  it('doubles the pause of a task failing in a row, up to the ceiling', () => {
    const { outage } = tracker();
    expect([1, 2, 3, 4, 5].map(() => outage.failed('loop', new Error('down')))).toEqual([
      200, 400, 800, 1000, 1000,
    ]);
  });

  it('counts the database as reachable for a span only from the end of the last incident', () => {
    let now = 0;
    const { outage } = tracker(() => now);
    expect(outage.reachableFor(5000)).toBe(true);
    outage.failed('loop', new Error('down'));
    now = 10_000;
    expect(outage.reachableFor(5000)).toBe(false);
    outage.succeeded('loop');
    now = 14_999;
    expect(outage.reachableFor(5000)).toBe(false);
    now = 15_000;
    expect(outage.reachableFor(5000)).toBe(true);
  });
});
