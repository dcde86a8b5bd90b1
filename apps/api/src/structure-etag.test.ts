/**
 * The structure of a DAG version is immutable while it is cached: it is serialized once per cached
 * version, sent with a strong ETag, and revalidated with If-None-Match (304, no body).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStructure } from './serialize.ts';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

const STRUCTURE = '/api/v2/dags/tagged/dagVersions/1/structure';
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  const [v1] = await seedDag(api.prisma, 'tagged', [
    smallDag('tagged'),
    smallDag('tagged', { description: 'second' }),
  ]);
  await seedRun(api.prisma, { dagId: 'tagged', runId: 'on_v1', versionId: v1! });
});
afterAll(() => api.close());

describe('the structure answer', () => {
  it('carries a strong ETag, the hash of its bytes, and may be kept by the client only to revalidate', async () => {
    const response = await api.request(STRUCTURE);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('etag')).toBe(
      `"${createHash('sha256').update(bytes).digest('base64url')}"`,
    );
    expect(response.headers.get('cache-control')).toBe('private, no-cache');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(JSON.parse(bytes.toString('utf8'))).toMatchObject({
      dag_id: 'tagged',
      version_number: 1,
      nodes: [{ id: 'extract' }, { id: 'transform' }, { id: 'load' }],
    });
  });

  it('is 304 without a body when If-None-Match names its ETag (alone, in a list, or weak)', async () => {
    const etag = (await api.request(STRUCTURE)).headers.get('etag')!;
    for (const ifNoneMatch of [etag, `"other", ${etag}`, `W/${etag}`, '*']) {
      const response = await api.request(STRUCTURE, { headers: { 'if-none-match': ifNoneMatch } });
      expect(response.status, ifNoneMatch).toBe(304);
      expect(response.headers.get('etag')).toBe(etag);
      expect(response.headers.get('cache-control')).toBe('private, no-cache');
      expect(await response.text()).toBe('');
    }
  });

  it('is a full 200 when If-None-Match names another version', async () => {
    const other = (await api.request('/api/v2/dags/tagged/dagVersions/2/structure')).headers.get(
      'etag',
    )!;
    const response = await api.request(STRUCTURE, { headers: { 'if-none-match': other } });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).not.toBe(other);
    expect(((await response.json()) as { version_number: number }).version_number).toBe(1);
  });

  it('is serialized once per cached version: every hit sends the cached bytes, counted in its weight', async () => {
    api.dagBag.clear();
    const loads = api.dagBag.stats().loads;
    const first = Buffer.from(await (await api.request(STRUCTURE)).arrayBuffer());
    const entry = await api.dagBag.getVersion('tagged', 1);
    expect(entry?.rendered).toBeDefined();
    expect(Buffer.from(entry!.rendered!.bytes).equals(first)).toBe(true);
    expect(entry!.weight).toBeGreaterThan(entry!.rendered!.bytes.byteLength);
    const again = Buffer.from(await (await api.request(STRUCTURE)).arrayBuffer());
    expect(again.equals(first)).toBe(true);
    expect(api.dagBag.stats().loads - loads).toBe(1);
  });

  it('is rendered into memory of its own size, which the DagBag keeps without a copy', async () => {
    const entry = (await api.dagBag.getVersion('tagged', 1))!;
    const { bytes } = renderStructure(entry);
    expect(bytes.buffer.byteLength).toBe(bytes.byteLength);
    expect(entry.rendered!.bytes.buffer.byteLength).toBe(entry.rendered!.bytes.byteLength);
  });

  it('of a run is the same bytes and ETag as its version', async () => {
    const version = await api.request(STRUCTURE);
    const run = await api.request('/api/v2/dags/tagged/dagRuns/on_v1/structure');
    expect(run.headers.get('etag')).toBe(version.headers.get('etag'));
    expect(await run.text()).toBe(await version.text());
    const revalidated = await api.request('/api/v2/dags/tagged/dagRuns/on_v1/structure', {
      headers: { 'if-none-match': version.headers.get('etag')! },
    });
    expect(revalidated.status).toBe(304);
  });

  it('is documented: the ETag header, If-None-Match and the 304', () => {
    const operation = (api.app.openApiDocument as any).paths[
      '/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure'
    ].get;
    expect(Object.keys(operation.responses['200'].headers)).toEqual(['ETag']);
    expect(operation.responses['304'].description).toMatch(/Not Modified/);
    expect(
      operation.parameters.find((p: { in: string; name: string }) => p.in === 'header'),
    ).toMatchObject({ name: 'If-None-Match', required: false });
  });
});

describe('other answers', () => {
  it('stay no-store, without an ETag', async () => {
    const response = await api.request('/api/v2/dags/tagged');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('etag')).toBeNull();
  });
});
