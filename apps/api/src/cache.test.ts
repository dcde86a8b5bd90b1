import { dagHash } from '@dagbag/dagbag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let versions: string[];

beforeAll(async () => {
  api = await startTestApi();
  versions = await seedDag(api.prisma, 'graph', [
    smallDag('graph'),
    smallDag('graph', { tasks: [{ task_id: 'only', operator: 'empty' }] }),
  ]);
  await seedRun(api.prisma, { dagId: 'graph', runId: 'on_v1', versionId: versions[0]! });
});

afterAll(() => api.close());

describe('structure endpoints go through the api DAG cache', () => {
  it('serve nodes and edges of exactly the requested version', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/graph/dagVersions/1/structure')
    ).json();
    expect(body).toMatchObject({
      dag_id: 'graph',
      version_number: 1,
      dag_version_id: versions[0],
      dag_hash: dagHash(smallDag('graph')),
    });
    expect(body.nodes.map((node: { id: string }) => node.id)).toEqual([
      'extract',
      'transform',
      'load',
    ]);
    expect(body.edges).toEqual([
      { source_id: 'extract', target_id: 'transform' },
      { source_id: 'transform', target_id: 'load' },
    ]);
  });

  it('load a version once however often it is requested', async () => {
    api.dagBag.clear();
    const before = api.dagBag.stats().loads;
    for (let i = 0; i < 20; i++) {
      expect((await api.request('/api/v2/dags/graph/dagVersions/2/structure')).status).toBe(200);
    }
    expect(api.dagBag.stats().loads - before).toBe(1);
    const stats: any = await (await api.request('/api/v2/monitor/dagbag')).json();
    expect(stats.misses.loaded).toBeGreaterThanOrEqual(1);
    expect(stats.hits).toBeGreaterThanOrEqual(19);
  });

  it('a cold structure request by version number costs one SQL statement, a warm one none', async () => {
    api.dagBag.clear();
    const before = api.statements.length;
    expect((await api.request('/api/v2/dags/graph/dagVersions/2/structure')).status).toBe(200);
    const cold = api.statements.slice(before);
    expect(cold, cold.join('\n---\n')).toHaveLength(1);
    expect(cold[0]).toMatch(/FROM unnest/);
    const warm = api.statements.length;
    expect((await api.request('/api/v2/dags/graph/dagVersions/2/structure')).status).toBe(200);
    expect(api.statements.length - warm).toBe(0);
  });

  it('a run structure costs one SQL statement, carrying the document only when not cached', async () => {
    api.dagBag.clear();
    const stats = api.dagBag.stats();
    let before = api.statements.length;
    expect((await api.request('/api/v2/dags/graph/dagRuns/on_v1/structure')).status).toBe(200);
    expect(api.statements.length - before).toBe(1);
    before = api.statements.length;
    expect((await api.request('/api/v2/dags/graph/dagRuns/on_v1/structure')).status).toBe(200);
    expect(api.statements.length - before).toBe(1);
    expect(api.dagBag.stats().loads - stats.loads).toBe(1);
    expect(api.dagBag.stats().hits - stats.hits).toBe(1);
  });

  it('load concurrent first requests of one version once', async () => {
    api.dagBag.clear();
    const before = api.dagBag.stats().loads;
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => api.request('/api/v2/dags/graph/dagVersions/1/structure')),
    );
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(api.dagBag.stats().loads - before).toBe(1);
  });

  it('serve the version a run was created with, not the latest', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/graph/dagRuns/on_v1/structure')
    ).json();
    expect(body.version_number).toBe(1);
    expect(body.nodes).toHaveLength(3);
  });

  it('serve the new version after a DAG was deleted and re-created with the same version numbers', async () => {
    await seedDag(api.prisma, 'reborn', [smallDag('reborn')]);
    expect(
      (
        (await (await api.request('/api/v2/dags/reborn/dagVersions/1/structure')).json()) as {
          nodes: unknown[];
        }
      ).nodes,
    ).toHaveLength(3);
    await api.prisma.dag.delete({ where: { dagId: 'reborn' } });
    // The cache may still hold the old version until it revalidates; a new id must not be shadowed
    // by it.
    api.dagBag.clear();
    const [newId] = await seedDag(api.prisma, 'reborn', [
      smallDag('reborn', { tasks: [{ task_id: 'single', operator: 'empty' }] }),
    ]);
    const body: any = await (
      await api.request('/api/v2/dags/reborn/dagVersions/1/structure')
    ).json();
    expect(body.dag_version_id).toBe(newId);
    expect(body.nodes).toHaveLength(1);
  });

  it('answer 404 for an unknown version or run', async () => {
    expect((await api.request('/api/v2/dags/graph/dagVersions/99/structure')).status).toBe(404);
    expect((await api.request('/api/v2/dags/graph/dagRuns/ghost/structure')).status).toBe(404);
    expect((await api.request('/api/v2/dags/ghost/dagVersions/1/structure')).status).toBe(404);
  });
});

describe('listings never fill the cache', () => {
  it('a listing of 1,000 versions leaves the cache empty', async () => {
    const document = smallDag('history');
    await api.prisma.dag.create({ data: { dagId: 'history' } });
    // One INSERT ... SELECT for speed: 1,000 versions with their serialized DAGs.
    await api.prisma.$executeRaw`
      WITH v AS (
        INSERT INTO dag_version (dag_id, version_number) SELECT 'history', n FROM generate_series(1, 1000) n RETURNING id
      )
      INSERT INTO serialized_dag (dag_version_id, dag_id, data, dag_hash) SELECT id, 'history', ${JSON.stringify(document)}::jsonb, ${dagHash(document)} FROM v`;
    api.dagBag.clear();
    const before = api.dagBag.stats().loads;
    const seen = new Set<number>();
    for (let offset = 0; offset < 1000; offset += 250) {
      const body: any = await (
        await api.request(`/api/v2/dags/history/dagVersions?limit=250&offset=${offset}`)
      ).json();
      expect(body.total_entries).toBe(1000);
      for (const version of body.dag_versions) seen.add(version.version_number);
    }
    expect(seen.size).toBe(1000);
    expect(api.dagBag.stats().entries).toBe(0);
    expect(api.dagBag.stats().loads - before).toBe(0);
  });

  it('the DAG, run and task instance listings load no version either', async () => {
    api.dagBag.clear();
    const before = api.dagBag.stats().loads;
    for (const path of [
      '/api/v2/dags',
      '/api/v2/dags/graph',
      '/api/v2/dags/graph/details',
      '/api/v2/dags/graph/dagRuns',
      '/api/v2/dags/graph/dagRuns/on_v1/taskInstances',
      '/api/v2/dags/graph/dagVersions/1',
    ]) {
      expect((await api.request(path)).status, path).toBe(200);
    }
    expect(api.dagBag.stats().loads - before).toBe(0);
    expect(api.dagBag.stats().entries).toBe(0);
  });

  it('limit above 1000 is served as 1000, as Airflow clamps to its maximum page size', async () => {
    const body: any = await (
      await api.request('/api/v2/dags/history/dagVersions?limit=5000')
    ).json();
    expect(body.dag_versions).toHaveLength(1000);
  });
});
