/**
 * Airflow's published API description as an ajv validator: a response is checked against
 * `#/components/schemas/<Name>` with every `$ref` resolved inside that document. The document is
 * the committed extract `airflow-openapi.fixture.json` (its `x-source` names Airflow's file, commit
 * and licence); `pnpm fixture:airflow` refreshes it (scripts/airflow-fixture.ts).
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

export const AIRFLOW_OPENAPI_FIXTURE = new URL('./airflow-openapi.fixture.json', import.meta.url);

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

let ajv: Ajv2020 | undefined;

export function airflowDocument(): {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
} {
  return JSON.parse(readFileSync(AIRFLOW_OPENAPI_FIXTURE, 'utf8'));
}

function validatorHost(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; the whole document is one schema resource.
  ajv.addSchema({ $id: 'airflow', ...airflowDocument() });
  return ajv;
}

/** Validation errors of `value` against Airflow's schema `name` (empty when it conforms). */
export function airflowSchemaErrors(name: string, value: unknown): string[] {
  const validate = validatorHost().getSchema(`airflow#/components/schemas/${name}`);
  if (!validate) throw new Error(`Airflow's document has no schema ${name}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(
    (error) =>
      `${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`,
  );
}
