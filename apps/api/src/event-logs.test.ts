import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDag, smallDag, startTestApi, TEST_TOKEN, type TestApi } from './testing/harness.ts';

const NAMED_TOKEN = 'ops-token-0123456789abcdef';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ authTokens: [TEST_TOKEN, `alice:${NAMED_TOKEN}`] });
  await seedDag(api.prisma, 'audited', [smallDag('audited')]);
});

afterAll(() => api.close());

async function events(query: string): Promise<any[]> {
  const response = await api.request(`/api/v2/eventLogs?${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { event_logs: any[] }).event_logs;
}

describe('the event log', () => {
  it('records a trigger with the name of the caller of a name:token entry', async () => {
    const triggered = await api.request('/api/v2/dags/audited/dagRuns', {
      method: 'POST',
      token: NAMED_TOKEN,
      json: { dag_run_id: 'by_alice', logical_date: null, conf: { k: 1 } },
    });
    expect(triggered.status).toBe(200);
    const [event] = await events('event=trigger_dag_run&run_id=by_alice');
    expect(event).toMatchObject({
      event: 'trigger_dag_run',
      owner: 'alice',
      dag_id: 'audited',
      run_id: 'by_alice',
    });
    expect(JSON.parse(event.extra)).toMatchObject({ dag_run_id: 'by_alice', conf: { k: 1 } });
  });

  it('names an unnamed token by a fingerprint and never stores the token itself', async () => {
    await api.request('/api/v2/dags/audited/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'by_bare_token', logical_date: null },
    });
    const [event] = await events('run_id=by_bare_token');
    expect(event.owner).toMatch(/^token:[0-9a-f]{12}$/);
    const all = await api.prisma.$queryRaw<
      { text: string }[]
    >`SELECT row_to_json(l)::text AS text FROM log l`;
    for (const row of all) {
      expect(row.text).not.toContain(TEST_TOKEN);
      expect(row.text).not.toContain(NAMED_TOKEN);
    }
  });

  it('gives the run the same caller as its triggering_user_name, as Airflow records the authenticated user', async () => {
    const named: any = await (
      await api.request('/api/v2/dags/audited/dagRuns', {
        method: 'POST',
        token: NAMED_TOKEN,
        json: { dag_run_id: 'user_named', logical_date: null },
      })
    ).json();
    expect(named.triggering_user_name).toBe('alice');
    const bare: any = await (
      await api.request('/api/v2/dags/audited/dagRuns', {
        method: 'POST',
        json: { dag_run_id: 'user_bare', logical_date: null },
      })
    ).json();
    const [event] = await events('event=trigger_dag_run&run_id=user_bare');
    expect(bare.triggering_user_name).toMatch(/^token:[0-9a-f]{12}$/);
    expect(bare.triggering_user_name).toBe(event.owner);
    const read: any = await (await api.request('/api/v2/dags/audited/dagRuns/user_named')).json();
    expect(read.triggering_user_name).toBe('alice');
  });

  it('records patching, clearing and deleting a run, each with its actor', async () => {
    await api.request('/api/v2/dags/audited/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'lifecycle', logical_date: null },
    });
    const patch = await api.request('/api/v2/dags/audited/dagRuns/lifecycle', {
      method: 'PATCH',
      token: NAMED_TOKEN,
      json: { note: 'looked at' },
    });
    expect(patch.status).toBe(200);
    const clear = await api.request('/api/v2/dags/audited/dagRuns/lifecycle/clear', {
      method: 'POST',
      token: NAMED_TOKEN,
      json: { dry_run: false },
    });
    expect(clear.status).toBe(200);
    const removed = await api.request('/api/v2/dags/audited/dagRuns/lifecycle', {
      method: 'DELETE',
      token: NAMED_TOKEN,
    });
    expect(removed.status).toBe(204);
    const recorded = await events('run_id=lifecycle&owner=alice&order_by=id');
    expect(recorded.map((e: { event: string }) => e.event)).toEqual([
      'patch_dag_run',
      'clear_dag_run',
      'delete_dag_run',
    ]);
  });

  it('does not record a dry run, which changes nothing', async () => {
    await api.request('/api/v2/dags/audited/dagRuns', {
      method: 'POST',
      json: { dag_run_id: 'dry', logical_date: null },
    });
    await api.request('/api/v2/dags/audited/dagRuns/dry/clear', {
      method: 'POST',
      json: { dry_run: true },
    });
    expect(await events('run_id=dry&event=clear_dag_run')).toEqual([]);
  });

  it('serves one event by id, and 404 for an id that does not exist', async () => {
    const [first] = await events('limit=1');
    const one = await api.request(`/api/v2/eventLogs/${first.event_log_id}`);
    expect(await one.json()).toEqual(first);
    expect((await api.request('/api/v2/eventLogs/2147483647')).status).toBe(404);
    expect((await api.request('/api/v2/eventLogs/99999999999')).status).toBe(422);
  });

  it('filters by included and excluded events', async () => {
    const included = await events('included_events=delete_dag_run&included_events=patch_dag_run');
    expect(new Set(included.map((e: { event: string }) => e.event))).toEqual(
      new Set(['delete_dag_run', 'patch_dag_run']),
    );
    const excluded = await events('excluded_events=trigger_dag_run&limit=1000');
    expect(excluded.some((e: { event: string }) => e.event === 'trigger_dag_run')).toBe(false);
  });
});
