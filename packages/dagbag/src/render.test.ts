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

  it('leaves entries without a rendered form when no render is given', async () => {
    const entry = (await bagWith().get('v1'))!;
    expect(entry.rendered).toBeUndefined();
    expect(entry.weight).toBe(entryWeight(100));
  });
});
