import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { progressLine as coloured } from './progress.ts';

// Coloured where picocolors colours (a terminal, CI=...): compared as text.
const progressLine = (...args: Parameters<typeof coloured>) =>
  stripVTControlCharacters(coloured(...args));

describe('progressLine', () => {
  it('says a finished run of a DAG without tasks has none, not none yet', () => {
    expect(progressLine('r', 'running', [])).toBe('r running | no tasks yet');
    expect(progressLine('r', 'success', [])).toBe('r success | no tasks');
  });

  it('counts task states in the order a task goes through them, and names those running', () => {
    expect(
      progressLine('r', 'running', [
        { task_id: 'a', state: 'success' },
        { task_id: 'b', state: 'running' },
        { task_id: 'c', state: null },
      ]),
    ).toBe('r running | success 1, running 1, none 1 | running now: b');
  });
});
