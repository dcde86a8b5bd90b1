import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@dagbag/config';
import { AIRFLOW_FAMILIES, extractFixture, stripSchema } from './airflow-fixture.ts';

const COMMIT = '0'.repeat(40);

describe('pnpm fixture:airflow', () => {
  it('drops prose keywords but keeps a property that is called description', () => {
    expect(
      stripSchema({
        type: 'object',
        title: 'Dag',
        description: 'A DAG.',
        properties: { description: { type: 'string', title: 'Description' } },
        required: ['description'],
        examples: [{ description: 'x' }],
      }),
    ).toEqual({
      type: 'object',
      properties: { description: { type: 'string' } },
      required: ['description'],
    });
  });

  it('keeps the operations of our families and exactly the schemas they reference', () => {
    const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
    const json = (schema: object) => ({ content: { 'application/json': { schema } } });
    const fixture = extractFixture(
      {
        openapi: '3.1.0',
        info: { title: 'Airflow API', version: '2' },
        paths: {
          '/api/v2/dags': {
            get: { tags: ['DAG'], summary: 'Get Dags', responses: { '200': json(ref('A')) } },
          },
          '/api/v2/pools': {
            get: { tags: ['Pool'], responses: { '200': json(ref('Pool')) } },
          },
        },
        components: {
          schemas: {
            A: { type: 'object', properties: { b: ref('B') } },
            B: { type: 'string', enum: ['x'] },
            Pool: { type: 'object' },
          },
        },
      },
      COMMIT,
      'hash',
    );
    expect(fixture.paths).toEqual({
      '/api/v2/dags': {
        get: { operationId: null, tags: ['DAG'], responses: { '200': json(ref('A')) } },
      },
    });
    expect(Object.keys((fixture.components as { schemas: object }).schemas)).toEqual(['A', 'B']);
  });

  it('the committed fixture names its source and licence and has operations of every family', () => {
    const fixture = JSON.parse(
      readFileSync(
        join(repoRoot(), 'apps', 'api', 'src', 'testing', 'airflow-openapi.fixture.json'),
        'utf8',
      ),
    );
    expect(fixture['x-source']).toMatchObject({
      repository: 'https://github.com/apache/airflow',
      license: 'Apache-2.0',
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    const tags = new Set(
      Object.values(fixture.paths as Record<string, Record<string, { tags: string[] }>>)
        .flatMap((item) => Object.values(item))
        .flatMap((operation) => operation.tags),
    );
    for (const family of AIRFLOW_FAMILIES) expect(tags, family).toContain(family);
    const prose = /"(summary|examples)":|"title":"/;
    expect(prose.test(JSON.stringify([fixture.paths, fixture.components]))).toBe(false);
  });
});
