/**
 * Refreshes src/schema.ts from the API's OpenAPI document: `pnpm --filter @dagbag/client generate`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateOpenApiTypes } from '@dagbag/openapi-types';
import { appOpenApiDocument, SCHEMA_FILE } from './openapi.ts';

writeFileSync(SCHEMA_FILE, await generateOpenApiTypes(appOpenApiDocument()));
process.stdout.write(`wrote ${fileURLToPath(SCHEMA_FILE)}\n`);
process.exit(0);
