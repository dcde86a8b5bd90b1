import { PassThrough } from 'node:stream';
import type { DagbagClient } from '@dagbag/client';
import { expect, it } from 'vitest';
import { followRun } from './program.ts';

type Listing = { task_id: string; state: string | null }[];

/**
 * A client whose run ends while a task listing is in flight, and whose in-flight listing then
 * answers with the tasks as they were before the end (as a listing lost to an API restart leaves
 * them): what the CI saw once, 'cli-restart success | queued 1, none 2'.
 */
function clientEndingDuringAListing() {
  let endRun!: (state: string) => void;
  const runEnded = new Promise<string>((resolve) => (endRun = resolve));
  const before: Listing = [
    { task_id: 'a', state: 'queued' },
    { task_id: 'b', state: null },
    { task_id: 'c', state: null },
  ];
  const after: Listing = before.map((ti) => ({ ...ti, state: 'success' }));
  let listings = 0;
  const listing = async (): Promise<Listing> => {
    listings++;
    if (listings === 1) return before;
    if (listings === 2) {
      endRun('success');
      await runEnded;
      return before;
    }
    return after;
  };
  const api = {
    waitForRun: () => runEnded,
    async *paginate() {
      yield* await listing();
    },
    GET: () => undefined,
  };
  return api as unknown as DagbagClient;
}

it("prints the tasks' states read after the run ended, not those of a listing in flight at its end", async () => {
  const io = { stdout: new PassThrough(), stderr: new PassThrough() };
  const outcome = await followRun(clientEndingDuringAListing(), io, 'steps', 'r', 0.01);
  expect(outcome.state).toBe('success');
  expect(outcome.taskInstances.map((ti) => ti.state)).toEqual(['success', 'success', 'success']);
});
