/**
 * `pnpm fixture:airflow <airflow-openapi.yaml> <commit>`: extracts from Apache Airflow's public
 * REST API v2 description the part our conformance tests use, into
 * apps/api/src/testing/airflow-openapi.fixture.json (committed).
 *
 * Input: `airflow-core/src/airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml` of
 * https://github.com/apache/airflow at the commit given as second argument (download it from
 * `https://raw.githubusercontent.com/apache/airflow/<commit>/<that path>`).
 *
 * Kept: every operation (path, method, operationId, tags, parameters, request body and response
 * schemas) of the resource families we implement, and the component schemas they reference,
 * transitively, with their types, required fields, enums, formats and defaults. Dropped: prose
 * (description, summary, title, examples), security declarations and every other family.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { parse } from 'yaml';

/**
 * Airflow's operation tags of the resources this system serves (DAG runs' logs are in Task
 * Instance).
 */
export const AIRFLOW_FAMILIES = [
  'DAG',
  'DagVersion',
  'DagRun',
  'Task Instance',
  'Task',
  'Import Error',
  'DagSource',
  'DagStats',
  'DagWarning',
  'Event Log',
  'DAG Parsing',
  'Monitor',
  'Version',
] as const;

export const AIRFLOW_SOURCE_PATH =
  'airflow-core/src/airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml';

const FIXTURE = join(
  import.meta.dirname,
  '..',
  'apps',
  'api',
  'src',
  'testing',
  'airflow-openapi.fixture.json',
);

const PROSE = new Set(['description', 'summary', 'title', 'example', 'examples']);
/** Keywords whose value maps names to schemas (the names are data, not keywords). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'dependentSchemas']);
/** Keywords whose value is data, kept as it is. */
const LITERALS = new Set(['enum', 'const', 'default', 'required']);
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

type Json = unknown;
type JsonObject = Record<string, unknown>;

function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON Schema without its prose, at any depth. */
export function stripSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(stripSchema);
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (PROSE.has(key)) continue;
    if (LITERALS.has(key)) out[key] = value;
    else if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, stripSchema(sub)]),
      );
    } else out[key] = stripSchema(value);
  }
  return out;
}

function contentSchemas(content: Json): JsonObject | undefined {
  if (!isObject(content)) return undefined;
  return Object.fromEntries(
    Object.entries(content).map(([mime, media]) => [
      mime,
      isObject(media) && media.schema !== undefined ? { schema: stripSchema(media.schema) } : {},
    ]),
  );
}

function stripOperation(operation: JsonObject): JsonObject {
  const out: JsonObject = {
    operationId: operation.operationId ?? null,
    tags: operation.tags ?? [],
  };
  if (Array.isArray(operation.parameters)) {
    out.parameters = operation.parameters.filter(isObject).map((parameter) => {
      const kept: JsonObject = { name: parameter.name!, in: parameter.in! };
      if (parameter.required !== undefined) kept.required = parameter.required;
      if (parameter.schema !== undefined) kept.schema = stripSchema(parameter.schema);
      return kept;
    });
  }
  if (isObject(operation.requestBody)) {
    const body: JsonObject = {};
    if (operation.requestBody.required !== undefined)
      body.required = operation.requestBody.required;
    const content = contentSchemas(operation.requestBody.content);
    if (content) body.content = content;
    out.requestBody = body;
  }
  if (isObject(operation.responses)) {
    out.responses = Object.fromEntries(
      Object.entries(operation.responses).map(([status, response]) => {
        const content = isObject(response) ? contentSchemas(response.content) : undefined;
        return [status, content ? { content } : {}];
      }),
    );
  }
  return out;
}

function collectRefs(value: Json, into: Set<string>): void {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, into);
  else if (isObject(value)) {
    for (const [key, sub] of Object.entries(value)) {
      if (key === '$ref' && typeof sub === 'string') {
        const match = /^#\/components\/schemas\/(.+)$/.exec(sub);
        if (!match) throw new Error(`unexpected $ref ${sub}: only #/components/schemas/* is kept`);
        into.add(match[1]!);
      } else collectRefs(sub, into);
    }
  }
}

/** The fixture document for Airflow's description `document` read from a file at `commit`. */
export function extractFixture(document: JsonObject, commit: string, sha256: string): JsonObject {
  const families = new Set<string>(AIRFLOW_FAMILIES);
  const paths: JsonObject = {};
  for (const [path, item] of Object.entries(document.paths as JsonObject)) {
    if (!isObject(item)) continue;
    const operations: JsonObject = {};
    for (const [method, operation] of Object.entries(item)) {
      if (!METHODS.has(method) || !isObject(operation)) continue;
      const tags = Array.isArray(operation.tags) ? operation.tags : [];
      if (tags.some((tag) => typeof tag === 'string' && families.has(tag))) {
        operations[method] = stripOperation(operation);
      }
    }
    if (Object.keys(operations).length > 0) paths[path] = operations;
  }
  const all = (document.components as JsonObject).schemas as JsonObject;
  const wanted = new Set<string>();
  collectRefs(paths, wanted);
  const schemas: JsonObject = {};
  const queue = [...wanted];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (name in schemas) continue;
    if (!(name in all)) throw new Error(`Airflow's document references a missing schema ${name}`);
    schemas[name] = stripSchema(all[name]);
    const refs = new Set<string>();
    collectRefs(schemas[name], refs);
    for (const ref of refs) if (!(ref in schemas)) queue.push(ref);
  }
  const sorted = Object.fromEntries(
    Object.keys(schemas)
      .sort()
      .map((name) => [name, schemas[name]!]),
  );
  return {
    'x-source': {
      project: 'Apache Airflow',
      repository: 'https://github.com/apache/airflow',
      path: AIRFLOW_SOURCE_PATH,
      commit,
      sha256,
      license: 'Apache-2.0',
      attribution:
        'Extracted from Apache Airflow (Copyright The Apache Software Foundation), licensed under ' +
        'the Apache License, Version 2.0: https://www.apache.org/licenses/LICENSE-2.0. ' +
        'Modified: only the operations of the families below and the schemas they reference are ' +
        'kept, without descriptions, titles, summaries, examples or security declarations.',
      families: [...AIRFLOW_FAMILIES],
      refresh: 'pnpm fixture:airflow <v2-rest-api-generated.yaml> <commit>',
    },
    openapi: document.openapi!,
    info: {
      title: (document.info as JsonObject).title!,
      version: (document.info as JsonObject).version!,
    },
    paths,
    components: { schemas: sorted },
  };
}

async function main(): Promise<void> {
  const [input, commit] = process.argv.slice(2);
  if (!input || !commit || !/^[0-9a-f]{40}$/.test(commit)) {
    process.stderr.write(
      "usage: pnpm fixture:airflow <path to Airflow's v2-rest-api-generated.yaml> <40-hex commit it comes from>\n" +
        `  the file is ${AIRFLOW_SOURCE_PATH} of https://github.com/apache/airflow\n`,
    );
    process.exit(2);
  }
  const text = readFileSync(input, 'utf8');
  const sha256 = createHash('sha256').update(text).digest('hex');
  const fixture = extractFixture(parse(text) as JsonObject, commit, sha256);
  const formatted = await format(JSON.stringify(fixture), {
    ...(await resolveConfig(FIXTURE)),
    filepath: FIXTURE,
  });
  writeFileSync(FIXTURE, formatted);
  const { paths, components } = fixture as {
    paths: JsonObject;
    components: { schemas: JsonObject };
  };
  const operations = Object.values(paths).reduce<number>(
    (n, item) => n + Object.keys(item as JsonObject).length,
    0,
  );
  process.stdout.write(
    `${relative(process.cwd(), FIXTURE)}: ${Object.keys(paths).length} paths, ${operations} operations, ` +
      `${Object.keys(components.schemas).length} schemas (${formatted.length} bytes)\n`,
  );
}

if (import.meta.filename === process.argv[1]) await main();
