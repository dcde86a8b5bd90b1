import { describe, expect, it } from 'vitest';
import { DagBag } from './dagbag.ts';
import { dagDocumentSchema } from './document.ts';
import type { DagVersionEntry } from './entry.ts';
import { MemoryDagVersionLoader } from './testing.ts';
import { entryWeight } from './weight.ts';

function bagWith(render?: (entry: DagVersionEntry) => { bytes: Uint8Array; etag: string }) {
  const loader = new MemoryDagVersionLoader();
  loader.add(
    dagDocumentSchema.parse({
      dag_id: 'rendered',
      tasks: [{ task_id: 'only', operator: 'empty' }],
    }),
    { versionId: 'v1', serializedBytes: 100 },
  );
  return new DagBag({
    role: 'api',
    loader,
    settings: { maxEntries: 0, maxBytes: 0, ttlSeconds: 0, revalidateSeconds: 0 },
    ...(render ? { render } : {}),
  });
}

describe('DagBag render', () => {
  it('renders an entry once, when it is loaded, and hands the same bytes to every hit', async () => {
    let calls = 0;
    const bag = bagWith((entry) => {
      calls++;
      return { bytes: Buffer.from(`{"id":"${entry.versionId}"}`), etag: '"x"' };
    });
    const first = (await bag.get('v1'))!;
    const second = (await bag.get('v1'))!;
    expect(calls).toBe(1);
    expect(second.rendered).toBe(first.rendered);
    expect(Buffer.from(first.rendered!.bytes).toString()).toBe('{"id":"v1"}');
    expect(Object.isFrozen(first.rendered)).toBe(true);
  });

  it('counts the rendered bytes in the entry weight and in the cache weight', async () => {
    const bag = bagWith(() => ({ bytes: new Uint8Array(1000), etag: '"x"' }));
    const entry = (await bag.get('v1'))!;
    expect(entry.weight).toBe(entryWeight(100) + 1000);
    expect(bag.stats().weight_bytes).toBe(entryWeight(100) + 1000);
  });

  it('keeps rendered bytes in a buffer of their own size, not a slice of a shared pool', async () => {
    const pooled = Buffer.from('{"id":"v1"}');
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    const bytes = (await bagWith(() => ({ bytes: pooled, etag: '"x"' })).get('v1'))!.rendered!
      .bytes;
    expect(bytes.buffer.byteLength).toBe(11);
    expect(Buffer.from(bytes).toString()).toBe('{"id":"v1"}');
  });

  it('holds no more rendered memory than the weight counts while crawling through history', async () => {
    // The soak's traffic in small: random versions of a history larger than the cap, each
    // rendered as a small Buffer (pool slices). Every buffer the resident entries keep alive is
    // counted once, whole: a slice would pin its 64 KiB slab, which the weight never counted.
    const loader = new MemoryDagVersionLoader();
    const ids = Array.from({ length: 400 }, (_, n) => {
      const document = dagDocumentSchema.parse({
        dag_id: `crawl_${n % 20}`,
        tasks: [{ task_id: `t${n}`, operator: 'empty' }],
      });
      return loader.add(document, { serializedBytes: 100 }).versionId;
    });
    const bag = new DagBag({
      role: 'api',
      loader,
      settings: { maxEntries: 50, maxBytes: 0, ttlSeconds: 0, revalidateSeconds: 0 },
      render: (entry) => ({ bytes: Buffer.from(`{"id":"${entry.versionId}"}`), etag: '"x"' }),
    });
    let seed = 1;
    const resident = new Map<string, DagVersionEntry>();
    for (let n = 0; n < 2000; n++) {
      seed = (seed * 48271) % 2147483647;
      const entry = (await bag.get(ids[seed % ids.length]!))!;
      resident.set(entry.versionId, entry);
      for (const id of resident.keys()) if (!bag.has(id)) resident.delete(id);
    }
    const buffers = new Set([...resident.values()].map((entry) => entry.rendered!.bytes.buffer));
    const held = [...buffers].reduce((sum, buffer) => sum + buffer.byteLength, 0);
    const counted = [...resident.values()].reduce(
      (sum, entry) => sum + entry.rendered!.bytes.byteLength,
      0,
    );
    expect(resident.size).toBe(50);
    expect(held).toBe(counted);
  });

  it('leaves entries without a rendered form when no render is given', async () => {
    const entry = (await bagWith().get('v1'))!;
    expect(entry.rendered).toBeUndefined();
    expect(entry.weight).toBe(entryWeight(100));
  });
});
