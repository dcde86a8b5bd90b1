import { describe, expect, it } from 'vitest';
import { hotRoutesFirst } from './app.ts';
import type { RouteDefinition } from './route.ts';

const route = (path: string, conditional = false) =>
  ({ method: 'get', path, conditional }) as unknown as RouteDefinition;

describe('the routing order', () => {
  it('puts the cached reads first and keeps the others in their declared order', () => {
    const routes = [
      route('/api/v2/dags'),
      route('/api/v2/dags/{dag_id}'),
      route('/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure', true),
      route('/api/v2/dags/{dag_id}/dagVersions/{version_number}'),
    ];
    expect(hotRoutesFirst(routes).map((r) => r.path)).toEqual([
      '/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure',
      '/api/v2/dags',
      '/api/v2/dags/{dag_id}',
      '/api/v2/dags/{dag_id}/dagVersions/{version_number}',
    ]);
  });

  it('refuses to move a cached read ahead of another route its paths could also match', () => {
    const routes = [
      route('/api/v2/dags/~/dagVersions/{version_number}/structure'),
      route('/api/v2/dags/{dag_id}/dagVersions/{version_number}/structure', true),
    ];
    expect(() => hotRoutesFirst(routes)).toThrow(/overlaps/);
  });
});
