/**
 * 200 requests fired at once while a real scheduler process runs the DAG they touch: triggers,
 * run state marks, clears, task instance PATCHes and reads. Every answer is a documented one (no
 * 500), and once the scheduler is done every finished run has only finished task instances.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenApiContract, observe } from './testing/openapi-contract.ts';
import { startApiAndScheduler, type ApiAndScheduler, type TestApi } from './testing/harness.ts';

let both: ApiAndScheduler;
let api: TestApi;

beforeAll(async () => {
  both = await startApiAndScheduler('dagbag-parallel-scheduler-');
  api = both.api;
});

afterAll(() => both?.close());

describe('200 requests at once while the scheduler runs the DAG', () => {
  it('answers each one as documented, never 500, and leaves no finished run with unfinished tasks', async () => {
    await writeFile(
      join(both.dagsFolder, 'busy.json'),
      JSON.stringify({
        dag_id: 'busy',
        max_active_runs: 4,
        tasks: [
          { task_id: 'a', operator: 'bash', bash_command: 'sleep 0.3' },
          { task_id: 'b', operator: 'bash', bash_command: 'sleep 0.3', upstream: ['a'] },
          { task_id: 'c', operator: 'empty', upstream: ['b'] },
        ],
      }),
    );
    const scheduler = await both.startScheduler();
    await scheduler.until(async () => (await api.request('/api/v2/dags/busy')).status === 200);
    const contract = new OpenApiContract(
      (await (await api.request('/api/v2/openapi.json')).json()) as Record<string, any>,
    );
    for (let i = 0; i < 8; i++) {
      const response = await api.request('/api/v2/dags/busy/dagRuns', {
        method: 'POST',
        json: { dag_run_id: `seed_${i}`, logical_date: null },
      });
      expect(response.status).toBe(200);
    }
    const requests: [string, string, unknown?][] = [];
    for (let i = 0; i < 200; i++) {
      const run = `/api/v2/dags/busy/dagRuns/seed_${i % 8}`;
      const pick: [string, string, unknown?][] = [
        ['POST', '/api/v2/dags/busy/dagRuns', { logical_date: null }],
        ['PATCH', run, { state: i % 2 === 0 ? 'success' : 'failed' }],
        ['POST', `${run}/clear`, { dry_run: false }],
        ['PATCH', `${run}/taskInstances/a`, { new_state: 'success', include_downstream: true }],
        ['GET', `${run}/taskInstances`],
        ['GET', '/api/v2/dags/busy/dagRuns?order_by=-run_after&limit=5'],
        ['GET', `${run}/structure`],
        ['GET', '/api/v2/dagStats?dag_ids=busy'],
      ];
      requests.push(pick[i % pick.length]!);
    }
    const answers = await Promise.all(
      requests.map(async ([method, url, json]) =>
        observe(method, url, await api.request(url, { method, json })),
      ),
    );
    const problems = answers.map((answer) => contract.problem(answer)).filter(Boolean);
    expect(problems).toEqual([]);
    expect(answers.filter((answer) => answer.status >= 500).map((a) => a.body)).toEqual([]);
    // Only the "already in that state" PATCH may be refused.
    for (const answer of answers.filter((a) => a.status !== 200))
      expect([answer.method, answer.status, answer.body]).toMatchObject([
        'PATCH',
        409,
        expect.stringContaining('already in success state'),
      ]);

    await scheduler.until(async () => {
      const open = await api.prisma.dagRun.count({
        where: { dagId: 'busy', state: { in: ['queued', 'running'] } },
      });
      return open === 0;
    }, 60_000);
    const torn = await api.prisma.$queryRaw<{ run_id: string; task_id: string; state: string }[]>`
      SELECT ti.run_id, ti.task_id, ti.state FROM task_instance ti
      JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
      WHERE r.dag_id = 'busy' AND r.state IN ('success', 'failed')
        AND (ti.state IS NULL OR ti.state NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'removed'))`;
    expect(torn).toEqual([]);
  }, 120_000);
});
