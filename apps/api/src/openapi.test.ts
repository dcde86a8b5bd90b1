import { Validator } from '@seriousme/openapi-schema-validator';
import type { Router } from 'express';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDag, seedRun, smallDag, startTestApi, type TestApi } from './testing/harness.ts';

let api: TestApi;
let document: Record<string, any>;

beforeAll(async () => {
  api = await startTestApi();
  const versions = await seedDag(api.prisma, 'docs', [smallDag('docs')]);
  await seedRun(api.prisma, {
    dagId: 'docs',
    runId: 'r1',
    versionId: versions[0]!,
    tis: [{ taskId: 'extract', state: 'success' }],
  });
  document = (await (await api.request('/api/v2/openapi.json')).json()) as Record<string, any>;
});

afterAll(() => api.close());

type Layer = {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
};

/** Every (method, path) Express actually serves, found by walking the router stacks. */
function expressRoutes(stack: Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      return Object.keys(layer.route.methods)
        .filter((method) => method !== '_all')
        .map(
          (method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:([a-z_]+)/g, '{$1}')}`,
        );
    }
    return layer.handle?.stack ? expressRoutes(layer.handle.stack) : [];
  });
}

function documentedRoutes(doc: Record<string, any>): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
    ([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

describe('the OpenAPI document at /api/v2/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('documents exactly the routes Express serves: none undocumented, none missing', () => {
    const served = expressRoutes(
      (api.app as unknown as { router: Router & { stack: Layer[] } }).router.stack,
    ).sort();
    expect(served.length).toBeGreaterThan(15);
    expect(documentedRoutes(document).sort()).toEqual(served);
  });

  it("documents every Airflow path it implements under Airflow's path and method", async () => {
    const { airflowDocument } = await import('./testing/airflow-schemas.ts');
    const airflow = new Set(documentedRoutes(airflowDocument()));
    const ours = new Set([
      'GET /api/v2/monitor/dagbag',
      'GET /api/v2/openapi.json',
      'GET /api/v2/dags/{dag_id}/dagVersions/{version_number}/structure',
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/structure',
    ]);
    const foreign = documentedRoutes(document).filter(
      (route) => !airflow.has(route) && !ours.has(route),
    );
    expect(foreign).toEqual([]);
  });

  it('leaves open exactly the operations Airflow serves without a token (health, version)', async () => {
    const { airflowDocument } = await import('./testing/airflow-schemas.ts');
    const airflow = airflowDocument().paths as Record<string, Record<string, any>>;
    const open: string[] = [];
    for (const [path, operations] of Object.entries(
      document.paths as Record<string, Record<string, any>>,
    )) {
      for (const [method, operation] of Object.entries(operations)) {
        const airflowOperation = airflow[path]?.[method];
        // Airflow's extract keeps no security declarations: an open operation has no 401 answer.
        const airflowOpen =
          airflowOperation !== undefined && !('401' in airflowOperation.responses);
        expect(operation.security, `${method} ${path}`).toEqual(
          airflowOpen ? [] : [{ HTTPBearer: [] }],
        );
        if (airflowOpen) open.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(open.sort()).toEqual(['GET /api/v2/monitor/health', 'GET /api/v2/version']);
  });

  it('describes responses that real answers of our own endpoints conform to', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
    ajv.addSchema({ $id: 'ours', ...document });
    const check = async (path: string, schema: string) => {
      const body = await (await api.request(path)).json();
      const validate = ajv.getSchema(`ours#/components/schemas/${schema}`)!;
      expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    };
    await check('/api/v2/dags/docs/dagVersions/1/structure', 'DagStructureResponse');
    await check('/api/v2/dags/docs/dagRuns/r1/structure', 'DagStructureResponse');
    await check('/api/v2/monitor/dagbag', 'DagBagStatsResponse');
    await check('/api/v2/dags/docs/dagRuns/r1/taskInstances', 'TaskInstanceCollectionResponse');
    await check('/api/v2/dags/docs/details', 'DAGDetailsResponse');
  });
});
