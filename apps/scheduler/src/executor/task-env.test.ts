import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnScheduler, type ChildScheduler } from '../testing/child-scheduler.ts';
import { createHarness, waitFor, type Harness } from '../testing/harness.ts';

let h: Harness;
let child: ChildScheduler | undefined;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  if (child && child.process.exitCode === null) child.process.kill('SIGKILL');
  await h.close();
});

function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of text.split('\0')) {
    const at = entry.indexOf('=');
    if (at > 0) env.set(entry.slice(0, at), entry.slice(at + 1));
  }
  return env;
}

describe("a task's environment", () => {
  it("holds the allow-listed variables and Airflow's context, none of the scheduler's secrets", async () => {
    const out = join(h.workDir, 'task.env');
    await h.writeDag({
      dag_id: 'env',
      schedule: '@daily',
      start_date: '2026-01-01T00:00:00Z',
      tasks: [{ task_id: 'dump', operator: 'bash', bash_command: `env -0 > ${out}` }],
    });
    await h.storeDags();
    child = await spawnScheduler(
      h.childEnv({
        API_AUTH_TOKENS: 'secret-token-0123456789abcdef',
        SOME_OTHER_SECRET: 'hunter2',
        TZ: 'UTC',
      }),
    );
    await waitFor(
      async () => (await h.db.prisma.taskInstance.count({ where: { state: 'success' } })) > 0,
      30_000,
    );
    const env = parseEnv(await readFile(out, 'utf8'));
    const run = await h.db.prisma.dagRun.findFirstOrThrow({ where: { dagId: 'env' } });
    const text = [...env.values()].join('\n');
    expect(text).not.toContain(h.db.url);
    expect(text).not.toContain('secret-token-0123456789abcdef');
    expect(text).not.toContain('hunter2');
    for (const name of ['DATABASE_URL', 'API_AUTH_TOKENS', 'SOME_OTHER_SECRET', 'DATA_DIR'])
      expect(env.has(name), name).toBe(false);
    expect(env.has('PATH')).toBe(true);
    expect(env.get('TZ')).toBe('UTC');
    expect(env.get('AIRFLOW_CTX_DAG_ID')).toBe('env');
    expect(env.get('AIRFLOW_CTX_TASK_ID')).toBe('dump');
    expect(env.get('AIRFLOW_CTX_DAG_RUN_ID')).toBe(run.runId);
    expect(env.get('AIRFLOW_CTX_TRY_NUMBER')).toBe('1');
    expect(env.get('DAG_RUN_CONF')).toBe('{}');
    const iso = (date: Date | null) => date!.toISOString().replace(/\.000Z$|Z$/, '+00:00');
    expect(env.get('DAG_RUN_DATA_INTERVAL_START')).toBe(iso(run.dataIntervalStart));
    expect(env.get('DAG_RUN_DATA_INTERVAL_END')).toBe(iso(run.dataIntervalEnd));
    expect(env.get('DAG_RUN_RUN_AFTER')).toBe(iso(run.runAfter));
    expect(env.get('AIRFLOW_CTX_LOGICAL_DATE')).toBe(
      run.logicalDate!.toISOString().replace('.000Z', '+00:00'),
    );
  });
});
