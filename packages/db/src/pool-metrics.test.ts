import { DATABASE_CLIENT_METRICS } from '@dagbag/metrics';
import { testMeter, type DataPoint } from '@dagbag/metrics/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, poolOf } from './client.ts';
import { defaultDatabaseSettings } from './settings.ts';
import { createTestDatabase, type TestDatabase } from './testing/index.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

type Points = Map<string, DataPoint<number>[]>;

function figures(points: Points) {
  const value = (name: string, state?: string) =>
    points
      .get(name)
      ?.find(
        (point) => state === undefined || point.attributes['db.client.connection.state'] === state,
      )?.value;
  return {
    used: value(DATABASE_CLIENT_METRICS.connectionCount.name, 'used'),
    idle: value(DATABASE_CLIENT_METRICS.connectionCount.name, 'idle'),
    pending: value(DATABASE_CLIENT_METRICS.connectionPendingRequests.name),
    max: value(DATABASE_CLIENT_METRICS.connectionMax.name),
  };
}

describe('the pool metrics of a Prisma client', () => {
  it('report what the pool holds when collected: used, idle, queued queries and its size, then zeros once it ended', async () => {
    const metrics = testMeter();
    const collect = async (): Promise<Points> =>
      new Map(
        [...(await metrics.collect())].map(([name, metric]) => [
          name,
          metric.dataPoints as DataPoint<number>[],
        ]),
      );
    const client = createPrismaClient({
      url: db.url,
      settings: { ...defaultDatabaseSettings(), DATABASE_POOL_MAX: 2 },
      applicationName: 'pool-metrics-test',
      meter: metrics.meter,
    });
    // Prisma's adapter takes the pool over (its $disconnect then ends it).
    await client.$connect();
    const pool = poolOf(client)!;
    const first = await pool.connect();
    const second = await pool.connect();
    const queued = pool.query('SELECT 1');
    const full = await collect();
    expect(figures(full)).toEqual({ used: 2, idle: 0, pending: 1, max: 2 });
    const url = new URL(db.url);
    expect(
      full.get(DATABASE_CLIENT_METRICS.connectionMax.name)?.[0]?.attributes[
        'db.client.connection.pool.name'
      ],
    ).toBe(`${url.hostname}:${url.port}/${url.pathname.slice(1)}`);

    first.release();
    await queued;
    second.release();
    // At rest: the pg instrumentation's event-driven copy said used 1, idle 1 here.
    expect(figures(await collect())).toEqual({ used: 0, idle: 2, pending: 0, max: 2 });

    await client.$disconnect();
    expect(figures(await collect())).toEqual({ used: 0, idle: 0, pending: 0, max: 0 });
    await metrics.shutdown();
  });
});
