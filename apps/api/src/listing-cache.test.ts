import { EventEmitter } from 'node:events';
import { createTestDatabase, type TestDatabase } from '@dagbag/db/testing';
import type { NotifierEvent } from '@dagbag/db';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ListingSignal } from './listing-cache.ts';
import { seedDag, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let db: TestDatabase;
let api: TestApi;
/** Held by the race test: runs between a miss's read and its store. */
let afterRead: ((key: string) => Promise<void> | void) | undefined;

const DAGS = ['cached_a', 'cached_b', 'cached_c'];

interface Listing {
  dags: {
    dag_id: string;
    description: string | null;
    is_paused: boolean;
    has_import_errors: boolean;
    tags: { name: string }[];
    last_parsed_time: string | null;
    next_dagrun_run_after: string | null;
  }[];
  total_entries: number;
}

async function list(path = '/api/v2/dags?limit=50'): Promise<Listing> {
  const response = await api.request(path);
  expect(response.status).toBe(200);
  return (await response.json()) as Listing;
}

/** The SQL statements the API sent while `work` ran. */
async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
  const before = api.statements.length;
  await work();
  return api.statements.slice(before);
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until every notification sent so far has arrived: a marker import error recorded and
 * removed in one transaction (one notification, no listing changed) is received last.
 */
async function settleNotifications(): Promise<void> {
  let received = false;
  const off = api.notifier!.subscribe((event) => {
    if (event.type === 'notification' && event.channel === 'dagbag_listing')
      received ||= event.id === 'import_error';
  });
  try {
    await db.prisma.$transaction([
      db.prisma.$executeRaw`INSERT INTO import_error (filename, stacktrace) VALUES ('marker', 'm')`,
      db.prisma.$executeRaw`DELETE FROM import_error WHERE filename = 'marker'`,
    ]);
    await until(() => received);
  } finally {
    off();
  }
}

const dagOf = (listing: Listing, dagId: string) =>
  listing.dags.find((dag) => dag.dag_id === dagId)!;

/** A signal the test drives: `listening` / `lost` when it says so, never a notification. */
function silentSignal() {
  const events = new EventEmitter();
  let listening = false;
  const signal: ListingSignal = {
    subscribe(listener) {
      events.on('event', listener);
      return () => events.off('event', listener);
    },
    get isListening() {
      return listening;
    },
  };
  return {
    signal,
    emit: (event: NotifierEvent) => {
      if (event.type !== 'notification') listening = event.type === 'listening';
      events.emit('event', event);
    },
  };
}

/** Makes the cache follow a silent signal that listens: only this API's writes invalidate. */
function followSilence() {
  const silent = silentSignal();
  api.listings.follow(silent.signal);
  silent.emit({ type: 'listening', resync: false });
  return silent;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi({
    db,
    listingCache: { afterRead: (key) => afterRead?.(key) },
  });
  for (const dagId of DAGS) await seedDag(db.prisma, dagId, [smallDag(dagId)]);
});

afterAll(async () => {
  await api.close();
  await db.drop();
});

beforeEach(async () => {
  afterRead = undefined;
  // Each test starts from the real notifier, listening, with an empty cache, and no notification
  // of an earlier write (the seed's, a previous test's) still on its way to empty it meanwhile.
  await until(() => api.notifier!.isListening);
  await settleNotifications();
  api.listings.follow(api.notifier!);
});

describe('GET /dags through the listing cache', () => {
  it('a second identical listing runs no SQL and answers the same bytes', async () => {
    let first = '';
    const cold = await statementsOf(async () => {
      first = await (await api.request('/api/v2/dags?limit=50')).text();
    });
    expect(cold).toHaveLength(1);
    let second = '';
    const warm = await statementsOf(async () => {
      second = await (await api.request('/api/v2/dags?limit=50')).text();
    });
    expect(warm).toEqual([]);
    expect(second).toBe(first);
    expect(JSON.parse(second)).toMatchObject({ total_entries: 3 });
  });

  it('keeps each answer in memory of its own size, which its byte cap counts', async () => {
    let key = '';
    afterRead = (read) => void (key = read);
    await list('/api/v2/dags?limit=2');
    const kept = await api.listings.answer(key, () => Promise.reject(new Error('not cached')));
    expect(JSON.parse(Buffer.from(kept).toString())).toMatchObject({ total_entries: 3 });
    expect(kept.buffer.byteLength).toBe(kept.byteLength);
  });

  it('a listing with another filter, page or order is read once and kept apart', async () => {
    const paths = [
      '/api/v2/dags?limit=2',
      '/api/v2/dags?limit=2&offset=1',
      '/api/v2/dags?limit=2&order_by=-dag_id',
      '/api/v2/dags?limit=2&dag_id_pattern=cached_b',
      '/api/v2/dags?limit=2&tags=test',
    ];
    const answers = new Map<string, Listing>();
    const cold = await statementsOf(async () => {
      for (const path of paths) answers.set(path, await list(path));
    });
    expect(cold).toHaveLength(paths.length);
    const warm = await statementsOf(async () => {
      for (const path of paths) expect(await list(path)).toEqual(answers.get(path));
    });
    expect(warm).toEqual([]);
    expect(answers.get('/api/v2/dags?limit=2&offset=1')!.dags.map((d) => d.dag_id)).toEqual([
      'cached_b',
      'cached_c',
    ]);
    expect(answers.get('/api/v2/dags?limit=2&order_by=-dag_id')!.dags[0]!.dag_id).toBe('cached_c');
  });

  it('a listing that reads dag runs (last run state, run filters, last run order) is read every time', async () => {
    for (const path of [
      '/api/v2/dags?last_dag_run_state=success',
      '/api/v2/dags?dag_run_state=running',
      '/api/v2/dags?order_by=last_run_start_date',
    ]) {
      const statements = await statementsOf(async () => {
        await list(path);
        await list(path);
      });
      expect(statements.length, path).toBeGreaterThanOrEqual(2);
    }
  });

  it('a PATCH on this API is visible in the next listing at once, without a notification', async () => {
    // Notifications never arrive here: only the PATCH's own invalidation can show the change.
    followSilence();
    expect(dagOf(await list(), 'cached_a').is_paused).toBe(false);
    expect(
      (await api.request('/api/v2/dags/cached_a', { method: 'PATCH', json: { is_paused: true } }))
        .status,
    ).toBe(200);
    expect(dagOf(await list(), 'cached_a').is_paused).toBe(true);
    expect(
      (
        await api.request('/api/v2/dags?dag_id_pattern=cached_a', {
          method: 'PATCH',
          json: { is_paused: false },
        })
      ).status,
    ).toBe(200);
    expect(dagOf(await list(), 'cached_a').is_paused).toBe(false);
  });

  it('a DELETE on this API is gone from the next listing at once, without a notification', async () => {
    await seedDag(db.prisma, 'cached_doomed', [smallDag('cached_doomed')]);
    followSilence();
    expect((await list()).dags.map((dag) => dag.dag_id)).toContain('cached_doomed');
    expect((await api.request('/api/v2/dags/cached_doomed', { method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await list()).dags.map((dag) => dag.dag_id)).not.toContain('cached_doomed');
  });

  it("another process's changes in SQL show up within a bounded wait", async () => {
    await list();
    const shows = (check: (listing: Listing) => boolean) =>
      until(async () => check(await list()), 5_000);
    await db.prisma.$executeRaw`UPDATE dag SET description = 'rewritten' WHERE dag_id = 'cached_b'`;
    await shows((listing) => dagOf(listing, 'cached_b').description === 'rewritten');
    await db.prisma.$executeRaw`UPDATE dag SET tags = '{retagged}' WHERE dag_id = 'cached_b'`;
    await shows((listing) => dagOf(listing, 'cached_b').tags[0]?.name === 'retagged');
    await db.prisma.$executeRaw`
      INSERT INTO import_error (filename, stacktrace) VALUES ('/dags/cached_c.json', 'broken')`;
    await shows((listing) => dagOf(listing, 'cached_c').has_import_errors);
    // The processor's parse of an unchanged DAG's file moves last_parsed_time only.
    const before = dagOf(await list(), 'cached_a').last_parsed_time;
    await db.prisma.$executeRaw`
      UPDATE dag SET last_parsed_time = now() + interval '1 minute' WHERE dag_id = 'cached_a'`;
    await shows((listing) => dagOf(listing, 'cached_a').last_parsed_time !== before);
    // The scheduler's next_dagrun_* and a new DAG.
    await db.prisma.$executeRaw`
      UPDATE dag SET next_dagrun_create_after = '2030-01-01T00:00:00Z' WHERE dag_id = 'cached_a'`;
    await shows(
      (listing) => dagOf(listing, 'cached_a').next_dagrun_run_after === '2030-01-01T00:00:00.000Z',
    );
    await db.prisma.$executeRaw`INSERT INTO dag (dag_id) VALUES ('cached_new')`;
    await shows((listing) => listing.dags.some((dag) => dag.dag_id === 'cached_new'));
    expect(api.listings.counts.hit).toBeGreaterThan(0);
  });

  it('during a notification gap listings are read from the database, and cached again after', async () => {
    const { emit } = followSilence();
    expect(dagOf(await list(), 'cached_c').description).not.toBe('written in the gap');
    emit({ type: 'lost', error: new Error('connection terminated') });
    // Missed by the listener: only reading the database shows it.
    await db.prisma.$executeRaw`
      UPDATE dag SET description = 'written in the gap' WHERE dag_id = 'cached_c'`;
    const bypass = api.listings.counts.bypass;
    const inGap = await statementsOf(async () => {
      expect(dagOf(await list(), 'cached_c').description).toBe('written in the gap');
      await list();
    });
    expect(inGap).toHaveLength(2);
    expect(api.listings.counts.bypass - bypass).toBe(2);
    emit({ type: 'listening', resync: true });
    const after = await statementsOf(async () => {
      await list();
      await list();
    });
    expect(after).toHaveLength(1);
  });

  it('after the real listener is cut, the cache serves again only once it listens again', async () => {
    await list();
    const pid = api.notifier!.backendPid;
    await db.prisma.$executeRaw`SELECT pg_terminate_backend(${pid}::int)`;
    await until(() => api.notifier!.stats().resyncs >= 1 && api.notifier!.isListening);
    expect(api.listings.active).toBe(true);
    const statements = await statementsOf(async () => {
      await list();
      await list();
    });
    // Emptied by the gap: read once, then served.
    expect(statements).toHaveLength(1);
  });

  it('an invalidation during the read does not leave a stale answer', async () => {
    await list('/api/v2/dags?limit=3');
    api.listings.invalidate();
    // The next miss has read the old description; before it stores its answer, another process
    // changes the DAG and its notification arrives.
    afterRead = async () => {
      afterRead = undefined;
      const seen = api.listings.invalidations;
      await db.prisma.$executeRaw`
        UPDATE dag SET description = 'changed during the read' WHERE dag_id = 'cached_a'`;
      await until(() => api.listings.invalidations > seen);
    };
    const raced = await list('/api/v2/dags?limit=3');
    expect(dagOf(raced, 'cached_a').description).not.toBe('changed during the read');
    expect(dagOf(await list('/api/v2/dags?limit=3'), 'cached_a').description).toBe(
      'changed during the read',
    );
  });

  it('concurrent identical misses share one query', async () => {
    const misses = api.listings.counts.miss;
    // The first read waits until all five requests have missed: they all join it.
    afterRead = async () => {
      afterRead = undefined;
      await until(() => api.listings.counts.miss - misses >= 5);
    };
    const statements = await statementsOf(() =>
      Promise.all(Array.from({ length: 5 }, () => list('/api/v2/dags?limit=4'))),
    );
    expect(statements).toHaveLength(1);
  });
});

describe('the listing cache off', () => {
  it('without notifications (DATABASE_NOTIFICATIONS=off) every listing is read', async () => {
    const off = await startTestApi({ db, listingCache: { notifications: false } });
    try {
      const before = off.statements.length;
      for (let i = 0; i < 3; i++)
        expect((await off.request('/api/v2/dags?limit=50')).status).toBe(200);
      expect(off.statements.length - before).toBe(3);
      expect(off.listings.counts).toEqual({ hit: 0, miss: 0, bypass: 3 });
    } finally {
      await off.close();
    }
  });

  it('with API_LISTING_CACHE_MAX_BYTES=0 every listing is read', async () => {
    const off = await startTestApi({ db, listingCache: { maxBytes: 0 } });
    try {
      const before = off.statements.length;
      for (let i = 0; i < 3; i++)
        expect((await off.request('/api/v2/dags?limit=50')).status).toBe(200);
      expect(off.statements.length - before).toBe(3);
    } finally {
      await off.close();
    }
  });

  it('keeps at most API_LISTING_CACHE_MAX_BYTES of answers', async () => {
    const small = await startTestApi({ db, listingCache: { maxBytes: 4_000 } });
    try {
      for (let limit = 1; limit <= 6; limit++)
        expect((await small.request(`/api/v2/dags?limit=${limit}`)).status).toBe(200);
      const { entries, bytes } = small.listings.size();
      expect(entries).toBeGreaterThan(0);
      expect(entries).toBeLessThan(6);
      expect(bytes).toBeLessThanOrEqual(4_000);
    } finally {
      await small.close();
    }
  });
});
