import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
}, 60_000);
afterAll(() => api.close());

describe('GET /api/v2/monitor/health', () => {
  it('runs one database check for all the health requests that arrive while one runs', async () => {
    // The scheduler's heartbeat query waits while another session holds the job table, so
    // every request below arrives while the first one's check is still running.
    const blocker = new pg.Client({ connectionString: api.db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE job IN ACCESS EXCLUSIVE MODE');
    const requests = 10;
    let received = 0;
    const onRequest = () => received++;
    api.server.server.on('request', onRequest);
    const heartbeatQueries = () => api.statements.filter((sql) => sql.includes('"job"')).length;
    const before = heartbeatQueries();
    try {
      const answers = Array.from({ length: requests }, () =>
        fetch(`${api.url}/api/v2/monitor/health`),
      );
      while (received < requests) await new Promise((resolve) => setTimeout(resolve, 10));
      await blocker.query('ROLLBACK');
      for (const answer of await Promise.all(answers)) expect(answer.status).toBe(200);
    } finally {
      api.server.server.off('request', onRequest);
      await blocker.end();
    }
    // Each request ran its own check: as many heartbeat queries as the pool had connections.
    // One check, or two if the machine was so slow that the first one's 2 s timeout passed.
    expect(heartbeatQueries() - before).toBeLessThanOrEqual(2);
  }, 30_000);
});
