import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, loopUntil, type Harness } from '../testing/harness.ts';

let h: Harness;
let states: Record<string, string | null>;

// One run covers every rule: `fail` fails, `ok` succeeds, `skip` is skipped (one_failed without a
// failure).
beforeAll(async () => {
  h = await createHarness();
  await h.writeDag({
    dag_id: 'rules',
    tasks: [
      { task_id: 'fail', operator: 'bash', bash_command: 'exit 1' },
      { task_id: 'ok', operator: 'bash', bash_command: 'true' },
      { task_id: 'skip', operator: 'empty', upstream: ['ok'], trigger_rule: 'one_failed' },
      { task_id: 'all_success_after_failure', operator: 'empty', upstream: ['fail', 'ok'] },
      { task_id: 'all_success_after_skip', operator: 'empty', upstream: ['ok', 'skip'] },
      { task_id: 'all_success_after_success', operator: 'empty', upstream: ['ok'] },
      {
        task_id: 'all_done_after_failure',
        operator: 'empty',
        upstream: ['fail', 'ok'],
        trigger_rule: 'all_done',
      },
      {
        task_id: 'one_success_after_one',
        operator: 'empty',
        upstream: ['fail', 'ok'],
        trigger_rule: 'one_success',
      },
      {
        task_id: 'one_success_after_failure',
        operator: 'empty',
        upstream: ['fail'],
        trigger_rule: 'one_success',
      },
      {
        task_id: 'one_success_after_skips',
        operator: 'empty',
        upstream: ['skip'],
        trigger_rule: 'one_success',
      },
      {
        task_id: 'one_failed_after_failure',
        operator: 'empty',
        upstream: ['fail', 'ok'],
        trigger_rule: 'one_failed',
      },
      {
        task_id: 'none_failed_after_skip',
        operator: 'empty',
        upstream: ['ok', 'skip'],
        trigger_rule: 'none_failed',
      },
      {
        task_id: 'none_failed_after_failure',
        operator: 'empty',
        upstream: ['fail'],
        trigger_rule: 'none_failed',
      },
      { task_id: 'cascade', operator: 'empty', upstream: ['all_success_after_failure'] },
    ],
  });
  const scheduler = await h.scheduler();
  await scheduler.processDagFiles();
  await h.trigger('rules', 'r1');
  await loopUntil(scheduler, async () =>
    ['success', 'failed'].includes((await h.runState('rules', 'r1')) ?? ''),
  );
  states = await h.taskStates('rules', 'r1');
});

afterAll(async () => {
  await h.close();
});

describe('trigger rules', () => {
  it('all_success runs when every upstream succeeded', () => {
    expect(states.all_success_after_success).toBe('success');
  });
  it('all_success becomes upstream_failed when an upstream failed', () => {
    expect(states.all_success_after_failure).toBe('upstream_failed');
  });
  it('all_success is skipped when an upstream was skipped', () => {
    expect(states.all_success_after_skip).toBe('skipped');
  });
  it('upstream_failed propagates down a chain', () => {
    expect(states.cascade).toBe('upstream_failed');
  });
  it('all_done runs once every upstream finished, failures included', () => {
    expect(states.all_done_after_failure).toBe('success');
  });
  it('one_success runs when one upstream succeeded', () => {
    expect(states.one_success_after_one).toBe('success');
  });
  it('one_success becomes upstream_failed when all upstreams finished without a success', () => {
    expect(states.one_success_after_failure).toBe('upstream_failed');
  });
  it('one_success is skipped when every upstream was skipped', () => {
    expect(states.one_success_after_skips).toBe('skipped');
  });
  it('one_failed runs when an upstream failed', () => {
    expect(states.one_failed_after_failure).toBe('success');
  });
  it('one_failed is skipped when every upstream finished without failure', () => {
    expect(states.skip).toBe('skipped');
  });
  it('none_failed runs when upstreams succeeded or were skipped', () => {
    expect(states.none_failed_after_skip).toBe('success');
  });
  it('none_failed becomes upstream_failed when an upstream failed', () => {
    expect(states.none_failed_after_failure).toBe('upstream_failed');
  });
  it('the run fails because a leaf failed', async () => {
    expect(await h.runState('rules', 'r1')).toBe('failed');
  });
});
